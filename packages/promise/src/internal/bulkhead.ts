import * as Bulkhead from "@circuit-breaker/core/BulkheadSlots"
import { BulkheadRejectedError } from "@circuit-breaker/core/CircuitBreakerError"

/** The bulkhead options, resolved to milliseconds. */
export interface BulkheadOptions {
  readonly maxConcurrent: number
  readonly maxQueue: number
  /** Milliseconds a call may wait for a slot; `undefined`: until one frees up. */
  readonly queueTimeout: number | undefined
}

/** A queued call: settles its wait when handed a slot, when it times out, or when its caller aborts. */
class QueuedCall implements Bulkhead.Waiter {
  granted = false
  timer: ReturnType<typeof setTimeout> | undefined = undefined
  constructor(
    readonly resolve: () => void,
    readonly reject: (error: unknown) => void,
    readonly signal: AbortSignal | undefined,
    readonly onAbort: () => void
  ) {}
  grant(): void {
    this.settle()
    this.resolve()
  }
  /** Stops the timer and the abort listener. */
  settle(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.signal?.removeEventListener("abort", this.onAbort)
  }
}

/**
 * The Promise executor's bulkhead. `tryEnter()` takes a free slot synchronously (the hot path,
 * no promise); otherwise `wait(signal)` queues the call, and rejects with a
 * `BulkheadRejectedError` when the queue is full or the wait passes `queueTimeout`, or with the
 * signal's reason when the caller aborts. Whoever entered calls `leave()` once, when done.
 *
 * @internal
 */
export class PromiseBulkhead {
  readonly slots: Bulkhead.BulkheadSlots
  constructor(
    readonly circuit: string,
    readonly options: BulkheadOptions,
    private readonly onRejected?: () => void
  ) {
    this.slots = new Bulkhead.BulkheadSlots(options.maxConcurrent, options.maxQueue)
  }

  tryEnter(): boolean {
    return this.slots.tryAcquire()
  }

  leave(): void {
    this.slots.release()
  }

  /** Gives the slot back and passes the call's value on (one `then` per call, no closure made per call). */
  readonly leaveWith = <A>(value: A): A => {
    this.slots.release()
    return value
  }

  /** Gives the slot back and passes the call's error on. */
  readonly leaveWithError = (error: unknown): never => {
    this.slots.release()
    throw error
  }

  rejection(reason: "Full" | "QueueTimeout"): BulkheadRejectedError {
    this.slots.rejections++
    this.onRejected?.()
    return new BulkheadRejectedError({
      circuit: this.circuit,
      reason,
      maxConcurrent: this.options.maxConcurrent,
      maxQueue: this.options.maxQueue
    })
  }

  /** Rejects every queued call with `reason` at once, and stops their timers (the breaker is disposed). */
  abortQueued(reason: unknown): void {
    for (const waiter of this.slots.takeQueued()) {
      const call = waiter as QueuedCall
      call.settle()
      call.reject(reason)
    }
  }

  /** Waits for a slot (call it after `tryEnter()` answered false). */
  wait(signal?: AbortSignal): Promise<void> {
    if (!this.slots.hasRoom()) return Promise.reject(this.rejection("Full"))
    if (signal?.aborted) return Promise.reject(signal.reason)
    return new Promise<void>((resolve, reject) => {
      const giveUp = (error: unknown) => {
        call.settle()
        this.slots.leave(call)
        reject(error)
      }
      const call: QueuedCall = new QueuedCall(resolve, reject, signal, () => giveUp(signal!.reason))
      signal?.addEventListener("abort", call.onAbort, { once: true })
      const timeout = this.options.queueTimeout
      if (timeout !== undefined) call.timer = setTimeout(() => giveUp(this.rejection("QueueTimeout")), timeout)
      this.slots.enqueue(call)
    })
  }

  /** Runs `fn` in a slot, waiting for one if need be. */
  async run<A>(fn: () => PromiseLike<A> | A, signal?: AbortSignal): Promise<A> {
    if (!this.tryEnter()) await this.wait(signal)
    try {
      return await fn()
    } finally {
      this.leave()
    }
  }
}
