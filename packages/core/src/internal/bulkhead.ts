import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as API from "../Bulkhead.js"
import { BulkheadRejectedError, CircuitBreakerConfigError } from "../CircuitBreakerError.js"
import { BulkheadSlots, type Waiter } from "./bulkheadSlots.js"
import { type BulkheadPolicy, resolvePolicyOptions } from "./policyOptions.js"

/** Waits in the queue until a slot is handed over; an interrupted waiter leaves, giving back a slot it got meanwhile. */
const waitForSlot = (slots: BulkheadSlots): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const waiter: Waiter = { granted: false, grant: () => resume(Effect.void) }
    slots.enqueue(waiter)
    return Effect.sync(() => slots.leave(waiter))
  })

/** The options checked (each error naming its option), with the defaults applied. */
export const validate = (options: API.Options): Either.Either<BulkheadPolicy, CircuitBreakerConfigError> => {
  const { maxConcurrent, maxQueue, queueTimeout } = options
  return Either.flatMap(resolvePolicyOptions({ maxConcurrent, maxQueue, queueTimeout }, 0), ({ bulkhead }) =>
    bulkhead === undefined
      ? Either.left(
          new CircuitBreakerConfigError({ option: "maxConcurrent", value: maxConcurrent, reason: "is required" })
        )
      : Either.right(bulkhead)
  )
}

/** @internal */
export const fromPolicy = (name: string, policy: BulkheadPolicy, onRejected?: () => void): API.Bulkhead => {
  const { maxConcurrent, maxQueue } = policy
  const slots = new BulkheadSlots(maxConcurrent, maxQueue)
  const queueTimeout = policy.queueTimeout === undefined ? undefined : Duration.millis(policy.queueTimeout)
  const rejected = (reason: "Full" | "QueueTimeout") => {
    slots.rejections++
    onRejected?.()
    return new BulkheadRejectedError({ circuit: name, reason, maxConcurrent, maxQueue })
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
    maxConcurrent,
    maxQueue,
    run,
    stats: () => ({ running: slots.running, queued: slots.queued, rejections: slots.rejections })
  }
}
