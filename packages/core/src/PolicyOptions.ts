/**
 * The options of the policies beyond consecutive failures: a failure-rate and slow-call
 * sliding window, result classification, open duration and the bulkhead. Resilience4j's
 * names; the README maps opossum's and cockatiel's to them.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Schedule from "effect/Schedule"

/**
 * A duration: milliseconds, an Effect `Duration`, or a string such as `"10 seconds"`.
 *
 * @since 0.1.0
 * @category models
 */
export type DurationOption = number | Duration.DurationInput

/**
 * The policy options every breaker takes (`CircuitBreaker.make`, `createAdvancedCircuitBreaker`).
 *
 * @since 0.1.0
 * @category models
 */
export interface PolicyOptions {
  /** Percent in (0, 100]: trip once the failure rate of the sliding window reaches it. */
  readonly failureRateThreshold?: number | undefined
  /** Percent in (0, 100]: trip once the share of slow calls in the window reaches it. */
  readonly slowCallRateThreshold?: number | undefined
  /** A call longer than this is slow, whether it succeeds or fails. */
  readonly slowCallDurationThreshold?: DurationOption | undefined
  /** `"count"`: the last `slidingWindowSize` calls (default); `"time"`: the last `slidingWindowSize` seconds. */
  readonly slidingWindowType?: "count" | "time" | undefined
  /** Calls (1 to 10,000) or seconds (1 to 3,600); default 100. */
  readonly slidingWindowSize?: number | undefined
  /** No rate is computed, and nothing trips, below this many calls in the window (default 100, at most the count window). */
  readonly minimumNumberOfCalls?: number | undefined
  /** Makes a value count as a failure (an HTTP 503 response that did not throw); the call still returns it. */
  readonly isResultFailure?: ((result: any, ...args: ReadonlyArray<any>) => boolean) | undefined
  /**
   * Lengthens each consecutive open period after a failed trial, up to `maxResetTimeout`; or an
   * Effect `Schedule` whose delays are the open periods.
   */
  readonly openBackoff?:
    | { readonly multiplier: number; readonly maxResetTimeout: DurationOption }
    | Schedule.Schedule<unknown, any>
    | undefined
  /** Milliseconds the service asks not to be called for, read from its error (a `Retry-After`); capped. */
  readonly retryAfterFromError?: ((error: any) => number | undefined) | undefined
  /** A Half-Open circuit whose trials have not finished this long after the first began opens again. */
  readonly maxWaitInHalfOpen?: DurationOption | undefined
  /** Calls that may run at once (the bulkhead). */
  readonly maxConcurrent?: number | undefined
  /** Calls that may wait for a bulkhead slot (default 0). */
  readonly maxQueue?: number | undefined
  /** How long a call may wait for a bulkhead slot. */
  readonly queueTimeout?: DurationOption | undefined
}
