/**
 * A bulkhead: at most `maxConcurrent` calls run at once, at most `maxQueue` more wait for a
 * slot (for at most `queueTimeout`), and any other call is turned away at once with a
 * {@link BulkheadRejectedError}. In Effect it is interruption-safe: an interrupted waiter leaves
 * the queue, and frees nothing it did not hold.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { BulkheadRejectedError, CircuitBreakerConfigError } from "./CircuitBreakerError.js"
import * as internal from "./internal/bulkhead.js"
import * as slots from "./internal/bulkheadSlots.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Names the bulkhead in its errors (a breaker's bulkhead carries the circuit's name). */
  readonly name?: string | undefined
  /** Calls that may run at once; a whole number, 1 or more. */
  readonly maxConcurrent: number
  /** Calls that may wait for a slot; 0 (the default) turns away every call beyond `maxConcurrent`. */
  readonly maxQueue?: number | undefined
  /** How long a call may wait in the queue; without it, it waits until a slot frees up. */
  readonly queueTimeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Calls running now. */
  readonly running: number
  /** Calls waiting for a slot now. */
  readonly queued: number
  /** Calls turned away since the bulkhead was made (queue full, or waited past `queueTimeout`). */
  readonly rejections: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Bulkhead {
  readonly name: string
  readonly maxConcurrent: number
  readonly maxQueue: number
  /** Runs `effect` in a slot, after waiting in the queue if need be, or fails with a `BulkheadRejectedError`. */
  readonly run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BulkheadRejectedError, R>
  readonly stats: () => Stats
}

/**
 * A bulkhead, made outside Effect; throws a `CircuitBreakerConfigError` naming a bad option.
 *
 * @since 0.1.0
 * @category constructors
 */
export const unsafeMake = (options: Options): Bulkhead =>
  Either.match(internal.validate(options), {
    onLeft: (error) => {
      throw error
    },
    onRight: (policy) => internal.fromPolicy(options.name ?? "bulkhead", policy)
  })

/**
 * A bulkhead; fails with a `CircuitBreakerConfigError` naming a bad option (`maxConcurrent`
 * below 1, a negative `maxQueue`, a `queueTimeout` that is not a positive duration).
 *
 * @example
 * ```ts
 * import { Bulkhead } from "@circuit-breaker/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const bulkhead = yield* Bulkhead.make({ maxConcurrent: 10, maxQueue: 20, queueTimeout: "1 second" })
 *   return yield* bulkhead.run(Effect.succeed("done")).pipe(
 *     Effect.catchTag("BulkheadRejectedError", () => Effect.succeed("busy"))
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Bulkhead, CircuitBreakerConfigError> =>
  Effect.suspend(() =>
    Either.match(internal.validate(options), {
      onLeft: Effect.fail,
      onRight: (policy) => Effect.succeed(internal.fromPolicy(options.name ?? "bulkhead", policy))
    })
  )

/**
 * The slot bookkeeping both executors share (the Promise API waits on it its own way). Not
 * needed by applications.
 *
 * @since 0.1.0
 * @category internals
 */
export const BulkheadSlots: typeof slots.BulkheadSlots = slots.BulkheadSlots

/**
 * @since 0.1.0
 * @category internals
 */
export type BulkheadSlots = slots.BulkheadSlots

/**
 * @since 0.1.0
 * @category internals
 */
export type Waiter = slots.Waiter
