/**
 * The retry `Schedule` that resolved options describe: a custom `retrySchedule`, or the
 * built-in backoff (exponential or linear from `retryDelay`, jittered, capped at
 * `maxRetryDelay`, for `maxRetries` recurrences). Its delays are those of `RetryBackoff`.
 *
 * Exported through `@circuit-breaker/core/internal`.
 *
 * @since 0.1.0
 */
import type * as Schedule from "effect/Schedule"
import type { CircuitBreaker } from "./CircuitBreaker.js"
import * as internal from "./internal/retrySchedule.js"

/**
 * The retry Schedule (fed with each attempt's error), or `undefined` when retrying is off.
 *
 * @example
 * ```ts
 * import { CircuitBreakerOptions, RetrySchedule } from "@circuit-breaker/core/internal"
 * import { Either } from "effect"
 *
 * const options = Either.getOrThrow(CircuitBreakerOptions.resolve({ maxRetries: 2, retryDelay: "50 millis" }))
 * const schedule = RetrySchedule.fromOptions(options) // exponential from 50 ms, jittered, 2 recurrences
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromOptions: (options: CircuitBreaker.Resolved) => Schedule.Schedule<unknown, unknown> | undefined =
  internal.retrySchedule
