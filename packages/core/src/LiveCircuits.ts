/**
 * The breakers alive in this process, of both APIs, for monitors: each executor registers
 * every breaker it makes, with the recorder of its metrics. A breaker is held weakly (one
 * WeakRef each, nothing more): once nothing else uses it, it is collected and drops out of
 * the list, which is cleared of such references as it grows.
 *
 * This module loads no `effect` code: a monitor reads the plain counters a recorder keeps.
 *
 * ```ts
 * import { LiveCircuits } from "@circuit-breaker/core"
 *
 * for (const { breaker, recorder } of LiveCircuits.live()) {
 *   console.log(recorder?.series().calls)
 * }
 * ```
 *
 * @since 0.1.0
 */
import type { StateName } from "./CircuitBreakerMetrics.js"
import * as internal from "./internal/liveCircuits.js"
import * as definitions from "./internal/metricDefinitions.js"

/**
 * The name, Prometheus type and help text of a metric.
 *
 * @since 0.1.0
 * @category models
 */
export type MetricDefinition = definitions.MetricDefinition

/**
 * A count of changes of state from one state to another.
 *
 * @since 0.1.0
 * @category models
 */
export interface Transition {
  readonly from: StateName
  readonly to: StateName
  readonly count: number
}

/**
 * A breaker's counters and call-duration histogram, as a Prometheus exposition needs them.
 *
 * @since 0.1.0
 * @category models
 */
export interface MetricSeries {
  readonly calls: number
  readonly successes: number
  readonly failures: number
  readonly rejections: number
  readonly timeouts: number
  readonly retries: number
  /** Attempts slower than `slowCallDurationThreshold`. */
  readonly slowCalls: number
  /** Calls the bulkhead turned away. */
  readonly bulkheadRejections: number
  /** Calls the fallback answered (Promise API). */
  readonly fallbackCalls: number
  /** Completed calls timed by the histogram. */
  readonly durationCount: number
  readonly durationSumSeconds: number
  /** Calls per bucket (not cumulative), one per bound of {@link durationBuckets} and a last one above them all. */
  readonly durationBuckets: ReadonlyArray<number>
  readonly transitions: ReadonlyArray<Transition>
}

/**
 * What keeps a breaker's series: its metrics recorder.
 *
 * @since 0.1.0
 * @category models
 */
export interface SeriesSource {
  series(): MetricSeries
}

/**
 * A live breaker (an Effect `CircuitBreaker` or a Promise `AdvancedCircuitBreaker`) and its
 * recorder (none with `metricsTracking: false`).
 *
 * @since 0.1.0
 * @category models
 */
export interface LiveCircuit {
  readonly breaker: object
  readonly recorder: SeriesSource | undefined
}

/**
 * Adds a breaker to the list; called by the executors when they make one.
 *
 * @since 0.1.0
 * @category registration
 */
export const register: (breaker: object, recorder: SeriesSource | undefined) => void = internal.register

/**
 * The breakers alive now, oldest first.
 *
 * @since 0.1.0
 * @category getters
 */
export const live: () => ReadonlyArray<LiveCircuit> = internal.live

/**
 * The upper bounds, in seconds, of the buckets of `circuit_breaker_call_duration_seconds`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const durationBuckets: ReadonlyArray<number> = definitions.durationBuckets

/**
 * The name, type and help text of every metric a breaker keeps.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metricDefinitions: typeof definitions.metricDefinitions = definitions.metricDefinitions
