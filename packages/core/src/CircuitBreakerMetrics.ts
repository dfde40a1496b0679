/**
 * What a breaker counts: calls and their outcomes, latency percentiles from a bounded
 * reservoir, the last failures with their context, and the same figures as Effect
 * `Metric`s (tagged `circuit=<name>`) for any Effect metrics exporter.
 *
 * Counting rules: one *call* is one `execute`, whatever its retries. `failureCalls`
 * counts calls that ended in failure, rejections and timeouts included; `retries` counts
 * attempts after the first; `lastFailures` keeps one entry per failed attempt.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import type { Mode } from "./CircuitBreakerState.js"
import * as emptyMetrics from "./internal/emptyMetrics.js"
import { effectMetricKeys as keys } from "./internal/metricKeys.js"
import * as internal from "./internal/metricsRecorder.js"

/**
 * @since 0.1.0
 * @category models
 */
export type StateName = "Closed" | "Open" | "HalfOpen"

/**
 * One failed attempt, kept for diagnosis.
 *
 * @since 0.1.0
 * @category models
 */
export interface FailureContext {
  /** A time-ordered unique id (UUID v7). */
  readonly id: string
  /** The error (or the defect, or the `CircuitTimeoutError`) the attempt failed with. */
  readonly error: unknown
  /** Milliseconds since the epoch, from Effect's Clock. */
  readonly timestamp: number
  readonly serviceId: string
  readonly circuit: string
  /** 1 for the first attempt of a call, 2 for its first retry, and so on. */
  readonly attempt: number
}

/**
 * Latency of completed calls in milliseconds; percentiles cover the most recent calls
 * (a bounded reservoir), the mean covers every call.
 *
 * @since 0.1.0
 * @category models
 */
export interface LatencySummary {
  readonly count: number
  readonly mean: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CircuitMetrics extends MetricsTotals {
  readonly name: string
  readonly state: StateName
  /** Percent of the sliding window's calls that failed; -1 below `minimumNumberOfCalls`, or without a window. */
  readonly failureRate: number
  /** Percent of the sliding window's calls that were slow; -1 below `minimumNumberOfCalls`, or without a window. */
  readonly slowCallRate: number
  /** Attempts slower than `slowCallDurationThreshold`, since the breaker was made. */
  readonly slowCalls: number
  /** Calls the bulkhead turned away (not in `totalCalls`: the service was not called). */
  readonly bulkheadRejections: number
  /** Calls the fallback answered (Promise API). */
  readonly fallbackCalls: number
  /** The circuit's mode (`"normal"` unless `setMode` changed it). */
  readonly mode: Mode
  readonly latency: LatencySummary
  readonly lastFailures: ReadonlyArray<FailureContext>
}

/**
 * The call counters of one circuit, or their sums over several.
 *
 * @since 0.1.0
 * @category models
 */
export interface MetricsTotals {
  readonly totalCalls: number
  readonly successCalls: number
  readonly failureCalls: number
  readonly rejectedCalls: number
  readonly timeoutCalls: number
  /** Calls whose error `isFailure` answered "ignore" for: neither successes nor failures. */
  readonly ignoredCalls: number
  readonly retries: number
}

/**
 * The metrics of a circuit that counts nothing (`metricsTracking: false`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty: (name: string, state: StateName) => CircuitMetrics = emptyMetrics.empty

/**
 * @since 0.1.0
 * @category models
 */
export interface AggregatedMetrics {
  readonly circuits: Readonly<Record<string, CircuitMetrics>>
  readonly totals: MetricsTotals
  readonly openCircuits: ReadonlyArray<string>
}

/**
 * Adds up the counters of several circuits and lists the Open ones.
 *
 * @since 0.1.0
 * @category combinators
 */
export const aggregate = (metrics: Iterable<CircuitMetrics>): AggregatedMetrics => {
  const circuits: Record<string, CircuitMetrics> = {}
  const openCircuits: Array<string> = []
  let totalCalls = 0
  let successCalls = 0
  let failureCalls = 0
  let rejectedCalls = 0
  let timeoutCalls = 0
  let ignoredCalls = 0
  let retries = 0
  for (const m of metrics) {
    circuits[m.name] = m
    if (m.state === "Open") openCircuits.push(m.name)
    totalCalls += m.totalCalls
    successCalls += m.successCalls
    failureCalls += m.failureCalls
    rejectedCalls += m.rejectedCalls
    timeoutCalls += m.timeoutCalls
    ignoredCalls += m.ignoredCalls ?? 0
    retries += m.retries
  }
  return {
    circuits,
    totals: { totalCalls, successCalls, failureCalls, rejectedCalls, timeoutCalls, ignoredCalls, retries },
    openCircuits
  }
}

/**
 * The Effect metrics every breaker updates, each tagged `circuit=<name>` by the breaker.
 *
 * @since 0.1.0
 * @category metrics
 */
export const effectMetrics = {
  calls: Metric.fromMetricKey(keys.calls),
  successes: Metric.fromMetricKey(keys.successes),
  failures: Metric.fromMetricKey(keys.failures),
  rejections: Metric.fromMetricKey(keys.rejections),
  timeouts: Metric.fromMetricKey(keys.timeouts),
  retries: Metric.fromMetricKey(keys.retries),
  bulkheadRejections: Metric.fromMetricKey(keys.bulkheadRejections),
  fallbackCalls: Metric.fromMetricKey(keys.fallbacks),
  slowCalls: Metric.fromMetricKey(keys.slowCalls),
  failureRate: Metric.fromMetricKey(keys.failureRate),
  slowCallRate: Metric.fromMetricKey(keys.slowCallRate),
  state: Metric.fromMetricKey(keys.state),
  /** `circuit_breaker_mode`, also tagged `mode`: 1 for the circuit's mode, 0 for a mode it left (none before a first change). */
  mode: Metric.fromMetricKey(keys.mode),
  /** `circuit_breaker_call_duration_seconds`: the duration of completed calls, in seconds. */
  latency: Metric.fromMetricKey(keys.duration),
  /** `circuit_breaker_transitions_total`, also tagged `from` and `to`. */
  transitions: Metric.fromMetricKey(keys.transitions)
} as const

/**
 * The gauge value of a state: 0 Closed, 1 Half-Open, 2 Open.
 *
 * @since 0.1.0
 * @category metrics
 */
export const stateGaugeValue: (state: StateName) => number = internal.stateGaugeValue
