import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as API from "../Bulkhead.js"
import { BulkheadRejectedError } from "../CircuitBreakerError.js"
import { BulkheadSlots, type Waiter } from "./bulkheadSlots.js"

/** Waits in the queue until a slot is handed over; an interrupted waiter leaves, giving back a slot it got meanwhile. */
const waitForSlot = (slots: BulkheadSlots): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const waiter: Waiter = { granted: false, grant: () => resume(Effect.void) }
    slots.enqueue(waiter)
    return Effect.sync(() => slots.leave(waiter))
  })

/** @internal */
export const unsafeMake = (options: API.Options): API.Bulkhead => {
  const name = options.name ?? "bulkhead"
  const maxQueue = options.maxQueue ?? 0
  const slots = new BulkheadSlots(options.maxConcurrent, maxQueue)
  const queueTimeout = options.queueTimeout === undefined ? undefined : Duration.decode(options.queueTimeout)
  const rejected = (reason: "Full" | "QueueTimeout") => {
    slots.rejections++
    return new BulkheadRejectedError({ circuit: name, reason, maxConcurrent: options.maxConcurrent, maxQueue })
  }
  const release = Effect.sync(() => slots.release())
  const queued =
    queueTimeout === undefined
      ? waitForSlot(slots)
      : Effect.timeoutFail(waitForSlot(slots), { duration: queueTimeout, onTimeout: () => rejected("QueueTimeout") })
  const run = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | BulkheadRejectedError, R> =>
    // Uninterruptible from taking a slot to the finalizer that gives it back: no slot is ever lost.
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        const held = Effect.ensuring(restore(effect), release)
        if (slots.tryAcquire()) return held
        if (!slots.hasRoom()) return Effect.fail(rejected("Full"))
        return Effect.zipRight(restore(queued), held)
      })
    )
  return {
    name,
    maxConcurrent: options.maxConcurrent,
    maxQueue,
    run,
    stats: () => ({ running: slots.running, queued: slots.queued, rejections: slots.rejections })
  }
}
