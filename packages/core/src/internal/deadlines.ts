/** @internal */
export abstract class Deadline {
  prev: Deadline | undefined = undefined
  next: Deadline | undefined = undefined
  /** When it expires (milliseconds, on the clock the `Deadlines` were made with); `Infinity`: never. */
  at = Infinity
  abstract expire(): void
}

class CallbackDeadline extends Deadline {
  constructor(
    at: number,
    private readonly onExpire: () => void
  ) {
    super()
    this.at = at
  }
  expire(): void {
    this.onExpire()
  }
}

/** @internal */
export class Deadlines {
  private head: Deadline | undefined = undefined
  private tail: Deadline | undefined = undefined
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  private timerAt = 0
  private referenced = false

  constructor(private readonly now: () => number) {}

  add(at: number, onExpire: () => void): Deadline {
    return this.insert(new CallbackDeadline(at, onExpire))
  }

  insert<D extends Deadline>(entry: D): D {
    const at = entry.at
    if (this.tail === undefined) {
      this.head = this.tail = entry
    } else if (at >= this.tail.at) {
      entry.prev = this.tail
      this.tail.next = entry
      this.tail = entry
    } else {
      this.insertSorted(entry)
    }
    if (this.head!.at === Infinity) return entry
    if (this.timer === undefined || this.timerAt > this.head!.at) this.arm(this.head!.at)
    else if (!this.referenced) {
      this.timer.ref()
      this.referenced = true
    }
    return entry
  }

  remove(entry: Deadline): void {
    if (entry.prev !== undefined) entry.prev.next = entry.next
    else if (this.head === entry) this.head = entry.next
    else return // already removed
    if (entry.next !== undefined) entry.next.prev = entry.prev
    else this.tail = entry.prev
    entry.prev = entry.next = undefined
    if ((this.head === undefined || this.head.at === Infinity) && this.timer !== undefined && this.referenced) {
      // Nothing waits: the timer may fire once more, but must not keep the process alive.
      this.timer.unref()
      this.referenced = false
    }
  }

  /** Expires every entry now, whatever its deadline, and clears the timer. */
  expireAll(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    while (this.head !== undefined) {
      const entry = this.head
      this.remove(entry)
      entry.expire()
    }
  }

  private insertSorted(entry: Deadline): void {
    let after = this.tail
    while (after !== undefined && after.at > entry.at) after = after.prev
    if (after === undefined) {
      entry.next = this.head
      this.head!.prev = entry
      this.head = entry
    } else {
      entry.prev = after
      entry.next = after.next
      after.next!.prev = entry
      after.next = entry
    }
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timerAt = at
    this.referenced = true
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - this.now()))
  }

  private fire(): void {
    this.timer = undefined
    const now = this.now()
    while (this.head !== undefined && this.head.at <= now) {
      const entry = this.head
      this.remove(entry)
      entry.expire()
    }
    if (this.head !== undefined && this.head.at !== Infinity) this.arm(this.head.at)
  }
}
