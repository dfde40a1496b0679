/**
 * Many deadlines served by one timer. Every call of a breaker has the same timeout, so
 * deadlines mostly arrive in order: a linked list kept sorted takes them in O(1) (a deadline
 * out of order, such as a retry's wait, is placed by walking back from the last finite one;
 * the `Infinity` ones of calls without a timeout wait at the end, out of the way), removing
 * is O(1), and one Node timer set for the earliest deadline serves them all (a Node timer
 * per call costs more than the rest of the call). The timer keeps the process alive only
 * while some deadline is pending.
 *
 * Used by the Effect executor and by `@circuit-breaker/promise`; not needed by
 * applications.
 *
 * @since 0.1.0
 */

/**
 * One pending deadline: a node of the list. Subclass it (implementing `expire`) to carry
 * a call's own data without a closure, and hand it to {@link Deadlines.insert}.
 *
 * @since 0.1.0
 * @category models
 */
export abstract class Deadline {
  prev: Deadline | undefined = undefined
  next: Deadline | undefined = undefined
  /** When it expires (milliseconds, on the clock the `Deadlines` were made with); `Infinity`: never. */
  at = Infinity
  abstract expire(): void
}

/** The longest delay a Node timer takes. */
const MAX_TIMER_MILLIS = 2 ** 31 - 1

/**
 * What a `Deadlines` list arms its one timer with: Node's timers by default. An Effect
 * executor on a test clock hands one that sleeps on that clock, so the very same list serves
 * the attempts' timeouts whatever the clock.
 *
 * @since 0.1.0
 * @category models
 */
export interface Timers<H = unknown> {
  set(callback: () => void, delay: number): H
  clear(handle: H): void
  /** Lets the timer keep the process alive (Node's `ref`), or not (`unref`). */
  ref(handle: H): void
  unref(handle: H): void
}

/**
 * Node's timers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const nodeTimers: Timers<ReturnType<typeof setTimeout>> = {
  set: (callback, delay) => setTimeout(callback, delay),
  clear: (handle) => clearTimeout(handle),
  ref: (handle) => void handle.ref(),
  unref: (handle) => void handle.unref()
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

/**
 * The list of pending deadlines and its one timer: `new Deadlines(now)`, where `now`
 * reads the clock the deadlines are measured on. `add(at, onExpire)` or `insert(node)`,
 * `remove(node)` when the call ends first, `expireAll()` on disposal.
 *
 * @since 0.1.0
 * @category constructors
 */
export class Deadlines {
  private head: Deadline | undefined = undefined
  private tail: Deadline | undefined = undefined
  /** The last node with a finite deadline; the Infinity ones follow it. */
  private lastFinite: Deadline | undefined = undefined
  private timer: unknown = undefined
  private timerAt = 0
  private referenced = false

  constructor(
    private readonly now: () => number,
    private readonly timers: Timers<any> = nodeTimers
  ) {}

  /** Adds a deadline at `at` (`Infinity`: never) that calls `onExpire` when it passes. */
  add(at: number, onExpire: () => void): Deadline {
    return this.insert(new CallbackDeadline(at, onExpire))
  }

  /** Adds a node whose `at` is set; its `expire` is called when `at` passes. */
  insert<D extends Deadline>(entry: D): D {
    const at = entry.at
    if (at === Infinity) {
      // Never expires by itself (a call without a timeout): kept at the end, out of the way.
      this.insertAfter(this.tail, entry)
      return entry
    }
    // Finite deadlines come before the Infinity ones, mostly in order: placed after the last
    // finite one, or by walking back from it.
    let after = this.lastFinite
    while (after !== undefined && after.at > at) after = after.prev
    this.insertAfter(after, entry)
    if (after === this.lastFinite) this.lastFinite = entry
    if (this.timer === undefined || this.timerAt > this.head!.at) this.arm(this.head!.at)
    else if (!this.referenced) {
      this.timers.ref(this.timer)
      this.referenced = true
    }
    return entry
  }

  /** Takes a node out (the call ended first); removing one twice is harmless. */
  remove(entry: Deadline): void {
    if (entry.prev === undefined && this.head !== entry) return // already removed
    if (entry === this.lastFinite) this.lastFinite = entry.prev
    if (entry.prev !== undefined) entry.prev.next = entry.next
    else this.head = entry.next
    if (entry.next !== undefined) entry.next.prev = entry.prev
    else this.tail = entry.prev
    entry.prev = entry.next = undefined
    if ((this.head === undefined || this.head.at === Infinity) && this.timer !== undefined && this.referenced) {
      // Nothing waits: the timer may fire once more, but must not keep the process alive.
      this.timers.unref(this.timer)
      this.referenced = false
    }
  }

  /** Expires every entry now, whatever its deadline, and clears the timer. */
  expireAll(): void {
    if (this.timer !== undefined) this.timers.clear(this.timer)
    this.timer = undefined
    while (this.head !== undefined) {
      const entry = this.head
      this.remove(entry)
      entry.expire()
    }
  }

  /** Links `entry` in after `after`, or first when `after` is `undefined`. */
  private insertAfter(after: Deadline | undefined, entry: Deadline): void {
    entry.prev = after
    entry.next = after === undefined ? this.head : after.next
    if (entry.next !== undefined) entry.next.prev = entry
    else this.tail = entry
    if (after === undefined) this.head = entry
    else after.next = entry
  }

  private arm(at: number): void {
    if (this.timer !== undefined) this.timers.clear(this.timer)
    this.timerAt = at
    this.referenced = true
    // Node turns a delay beyond 2^31 - 1 ms into 1 ms: wait the longest it takes, and `fire` re-arms.
    this.timer = this.timers.set(() => this.fire(), Math.min(MAX_TIMER_MILLIS, Math.max(0, at - this.now())))
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
