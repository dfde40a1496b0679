/**
 * The rules that decide when a Closed circuit trips. Each is a small pure strategy that the
 * state machine consults, so a new rule never touches the state machine itself: consecutive
 * failures, a failure rate or a slow-call rate over a sliding window of calls or of time, and
 * any combination of them.
 *
 * @since 0.1.0
 */
import * as anyOfRule from "./internal/tripRules/anyOf.js"
import * as countWindowRule from "./internal/tripRules/countWindow.js"
import * as timeWindowRule from "./internal/tripRules/timeWindow.js"

/**
 * A trip rule: a pure fold over call outcomes of a Closed circuit.
 *
 * `T` is the rule's own tally (for instance a count of consecutive failures). It must be
 * plain immutable data (numbers, strings, arrays and plain objects of them), so that a store
 * can persist it as JSON; a store that shares a circuit between processes replays each
 * process's outcomes on the tally it holds, so the tally of several processes is the fold of
 * the union of their outcomes.
 *
 * @since 0.1.0
 * @category models
 */
export interface TripRule<T> {
  /** A short name for logs and diagnostics, such as `"consecutiveFailures(5)"`. */
  readonly name: string
  /** The tally of a freshly closed circuit. */
  readonly initial: T
  /**
   * The tally after a success observed at `now` that took `durationMs` (unknown when
   * `undefined`: never a slow call). A rule with nothing to count returns the very same tally.
   */
  readonly onSuccess: (tally: T, now: number, durationMs?: number) => T
  /** The tally after a failure observed at `now` that took `durationMs`. */
  readonly onFailure: (tally: T, now: number, durationMs?: number) => T
  /** Whether the tally trips the circuit. */
  readonly shouldTrip: (tally: T) => boolean
  /**
   * Whether a success can trip the circuit: a slow success counts towards a slow-call rate,
   * and the success that brings a window to `minimumNumberOfCalls` may reveal a failure rate
   * over the threshold (as Resilience4j checks after every call). Without it, the state
   * machine asks `shouldTrip` after failures only.
   */
  readonly successMayTrip?: boolean | undefined
  /** The number of failures the tally currently holds, for metrics and shared-state reports. */
  readonly failureCount: (tally: T) => number
  /**
   * The window's counts and rates, for a rule that keeps a window; with `now`, as of `now`
   * (a time window's old buckets no longer count), else as of the latest outcome.
   */
  readonly stats?: ((tally: T, now?: number) => WindowStats) | undefined
  /**
   * Whether a value read back from a store is a tally of this very rule (its shape and sizes),
   * so that a corrupt or foreign tally is repaired (replaced by `initial`) instead of trusted.
   */
  readonly isTally: (u: unknown) => u is T
}

/**
 * The counts of a sliding window and the rates they give.
 *
 * @since 0.1.0
 * @category models
 */
export interface WindowStats {
  /** Calls in the window (failures and successes; ignored and cancelled calls are not calls). */
  readonly calls: number
  readonly failures: number
  /** Calls slower than the slow-call threshold, whether they succeeded or failed. */
  readonly slowCalls: number
  /** Percent of the calls that failed, or -1 while there are fewer than `minimumNumberOfCalls`. */
  readonly failureRate: number
  /** Percent of the calls that were slow, or -1 while there are fewer than `minimumNumberOfCalls`. */
  readonly slowCallRate: number
}

/**
 * The thresholds a window rule trips on. A rate threshold that is `undefined` never trips.
 *
 * @since 0.1.0
 * @category models
 */
export interface WindowThresholds {
  /** Percent in (0, 100]: trips once the failure rate reaches it. */
  readonly failureRateThreshold?: number | undefined
  /** Percent in (0, 100]: trips once the slow-call rate reaches it. */
  readonly slowCallRateThreshold?: number | undefined
  /** Milliseconds: a call that takes longer is slow, whether it succeeds or fails. */
  readonly slowCallDurationThreshold?: number | undefined
  /** No rate is computed, and nothing trips, below this many calls in the window. */
  readonly minimumNumberOfCalls: number
}

/**
 * Trips after `threshold` consecutive failures; any success starts the count again.
 *
 * @example
 * ```ts
 * import { TripRule } from "@circuit-breaker/core"
 *
 * const rule = TripRule.consecutiveFailures(3)
 * const tally = rule.onFailure(rule.onFailure(rule.onFailure(rule.initial, 0), 1), 2)
 * console.log(rule.shouldTrip(tally)) // true
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const consecutiveFailures = (threshold: number): TripRule<number> => {
  if (!Number.isSafeInteger(threshold) || threshold < 1) {
    throw new RangeError(`consecutiveFailures: threshold must be a positive integer, got ${String(threshold)}`)
  }
  return {
    name: `consecutiveFailures(${threshold})`,
    initial: 0,
    onSuccess: () => 0,
    onFailure: (count) => count + 1,
    shouldTrip: (count) => count >= threshold,
    failureCount: (count) => count,
    isTally: (u): u is number => typeof u === "number" && Number.isSafeInteger(u) && u >= 0
  }
}

/**
 * The tally of a {@link countWindow}: the outcomes of the last `size` calls as bits in a ring of
 * 32-bit words, with running totals. Plain data: a store keeps it as JSON.
 *
 * @since 0.1.0
 * @category models
 */
export type CountWindowTally = countWindowRule.CountWindowTally

/**
 * Trips on the failure rate or the slow-call rate of the last `size` calls (Resilience4j's
 * count-based sliding window), once the window holds at least `minimumNumberOfCalls` calls.
 * The memory is a ring of bits (two per call), and a call allocates only the new tally.
 *
 * @example
 * ```ts
 * import { TripRule } from "@circuit-breaker/core"
 *
 * const rule = TripRule.countWindow(10, { failureRateThreshold: 50, minimumNumberOfCalls: 4 })
 * let tally = rule.initial
 * for (const failed of [true, false, true, false]) {
 *   tally = failed ? rule.onFailure(tally, 0) : rule.onSuccess(tally, 0)
 * }
 * console.log(rule.shouldTrip(tally)) // true: 2 failures in 4 calls is 50%
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const countWindow: (size: number, thresholds: WindowThresholds) => TripRule<CountWindowTally> =
  countWindowRule.make

/**
 * The tally of a {@link timeWindow}: per-bucket counts in a ring, with running totals.
 *
 * @since 0.1.0
 * @category models
 */
export type TimeWindowTally = timeWindowRule.TimeWindowTally

/**
 * Trips on the failure rate or the slow-call rate of the calls of the last `seconds` seconds
 * (Resilience4j's time-based sliding window), once they are at least `minimumNumberOfCalls`.
 * Time is cut into at most 60 buckets (one a second for a window up to a minute): the window
 * holds the current bucket and the previous ones, so it is between `seconds` minus one bucket
 * and `seconds` long. Outcomes may arrive out of order (several processes' batches): one
 * older than the window is dropped, others land in their own bucket.
 *
 * @example
 * ```ts
 * import { TripRule } from "@circuit-breaker/core"
 *
 * const rule = TripRule.timeWindow(10, { failureRateThreshold: 50, minimumNumberOfCalls: 2 })
 * const tally = rule.onSuccess(rule.onFailure(rule.initial, 1_000), 2_000)
 * console.log(rule.shouldTrip(tally)) // true
 * console.log(rule.shouldTrip(rule.onSuccess(tally, 12_500))) // false: the failure left the window
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const timeWindow: (seconds: number, thresholds: WindowThresholds) => TripRule<TimeWindowTally> =
  timeWindowRule.make

/**
 * Trips when any of `rules` would (for instance consecutive failures or a failure rate). The
 * tally is the array of the rules' tallies, the very same array when none of them changed.
 *
 * @example
 * ```ts
 * import { TripRule } from "@circuit-breaker/core"
 *
 * const rule = TripRule.anyOf([
 *   TripRule.consecutiveFailures(5),
 *   TripRule.countWindow(100, { failureRateThreshold: 50, minimumNumberOfCalls: 20 })
 * ])
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const anyOf: (rules: ReadonlyArray<TripRule<any>>) => TripRule<ReadonlyArray<unknown>> = anyOfRule.make
