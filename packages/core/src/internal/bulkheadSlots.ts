/**
 * The bookkeeping of a bulkhead, shared by the Effect and the Promise executors: how many
 * calls run, who waits, and who gets a slot that frees up. It never waits nor times anything:
 * each executor wraps it in its own way of waiting.
 */

/** A call waiting in the queue. `grant` is called once, when it is handed a slot. */
export interface Waiter {
  granted: boolean
  readonly grant: () => void
}

/** The slots of one bulkhead (public through `Bulkhead.BulkheadSlots`, for the Promise API). */
export class BulkheadSlots {
  running = 0
  rejections = 0
  private readonly queue: Array<Waiter> = []

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueue: number
  ) {}

  get queued(): number {
    return this.queue.length
  }

  /** Takes a slot if one is free (and nobody waits for one: the queue is served in order). */
  tryAcquire(): boolean {
    if (this.running < this.maxConcurrent && this.queue.length === 0) {
      this.running++
      return true
    }
    return false
  }

  /** Whether the queue can take one more waiter. */
  hasRoom(): boolean {
    return this.queue.length < this.maxQueue
  }

  enqueue(waiter: Waiter): void {
    this.queue.push(waiter)
  }

  /** Gives a slot back: to the first waiter if there is one (it keeps the call count), else frees it. */
  release(): void {
    const next = this.queue.shift()
    if (next === undefined) {
      this.running--
      return
    }
    next.granted = true
    next.grant()
  }

  /** Empties the queue (the bulkhead is shut down): the waiters, in order, to be told by their executor. */
  takeQueued(): Array<Waiter> {
    return this.queue.splice(0)
  }

  /**
   * A waiter gives up (its caller was interrupted or aborted, or it waited past the queue
   * timeout): it leaves the queue, or gives back the slot it was handed meanwhile. It frees
   * nothing it did not hold.
   */
  leave(waiter: Waiter): void {
    if (waiter.granted) {
      waiter.granted = false
      this.release()
      return
    }
    const index = this.queue.indexOf(waiter)
    if (index !== -1) this.queue.splice(index, 1)
  }
}
