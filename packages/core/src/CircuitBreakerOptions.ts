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
import * as policyOptions from "./internal/policyOptions.js"

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

/**
 * A `CircuitBreakerConfigError` naming `mode` for a value that is not a circuit mode.
 *
 * @since 0.1.0
 * @category validation
 */
export const invalidMode: (mode: unknown) => CircuitBreakerConfigError | undefined = policyOptions.invalidMode

/**
 * The Promise API's `fallback` option, checked: a function, or absent.
 *
 * @since 0.1.0
 * @category validation
 */
export const fallbackOf: (
  value: unknown
) => Either.Either<
  ((error: unknown, ...args: ReadonlyArray<unknown>) => unknown) | undefined,
  CircuitBreakerConfigError
> = policyOptions.fallbackOf
