/**
 * Option handling shared by every front end (the Effect executor, the Promise API):
 * validation with defaults, the pure policy the options describe, and the retry Schedule
 * they build.
 *
 * @since 0.1.0
 */
import type * as Either from "effect/Either"
import type * as Schedule from "effect/Schedule"
import type { CircuitBreaker } from "./CircuitBreaker.js"
import type { CircuitBreakerConfigError } from "./CircuitBreakerError.js"
import type { Policy } from "./CircuitBreakerState.js"
import * as internal from "./internal/options.js"

/**
 * Validates options (Effect Schema) and fills in the defaults. An invalid value gives a
 * `CircuitBreakerConfigError` naming the option and the value.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve: (input: unknown) => Either.Either<CircuitBreaker.Resolved, CircuitBreakerConfigError> =
  internal.resolve

/**
 * The pure policy that resolved options describe.
 *
 * @since 0.1.0
 * @category constructors
 */
export const policyOf: (options: CircuitBreaker.Resolved) => Policy<any> = internal.policyOf

/**
 * The retry Schedule that resolved options describe (fed with each attempt's error), or
 * `undefined` when retrying is off.
 *
 * @since 0.1.0
 * @category constructors
 */
export const retrySchedule: (options: CircuitBreaker.Resolved) => Schedule.Schedule<unknown, unknown> | undefined =
  internal.retrySchedule

/**
 * The names of every option.
 *
 * @since 0.1.0
 * @category constants
 */
export const knownOptions: ReadonlyArray<string> = internal.knownOptions

/**
 * The defaults of the original specification, and of the options added around it.
 * `trialPermitTtl` is the one for the default timeout: it follows `timeout` (`timeout` + 1 s,
 * or 60 s when the timeout is disabled).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: Omit<CircuitBreaker.Resolved, "name" | "serviceId" | "retrySchedule" | "isFailure"> =
  internal.defaults
