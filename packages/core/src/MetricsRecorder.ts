/**
 * The mutable counters behind a breaker's metrics, for executors that drive the pure core
 * themselves (such as the Promise API). Exported through `@circuit-breaker/core/internal`.
 *
 * @since 0.1.0
 */
import type { CircuitMetrics, StateName } from "./CircuitBreakerMetrics.js"
import type { CircuitState, Mode, Policy } from "./CircuitBreakerState.js"
import { empty } from "./internal/emptyMetrics.js"
import * as live from "./internal/liveMetrics.js"
import * as internal from "./internal/metricsRecorder.js"
import type { MetricSeries } from "./LiveCircuits.js"

/**
 * The mutable counters behind a breaker's metrics, for front ends that drive the pure
 * core themselves (such as the Promise API). Every method is synchronous and cheap.
 *
 * @since 0.1.0
 * @category models
 */
export interface Recorder {
  /** A call that succeeded, with its latency in milliseconds. */
  success(latencyMillis: number): void
  /** A call that failed (`timedOut`: its last attempt timed out), with its latency. */
  failure(latencyMillis: number, timedOut: boolean): void
  /** A call rejected by the circuit. */
  rejected(): void
  /** A call whose error `isFailure` ignores. */
  ignored(): void
  /** One attempt after the first. */
  retry(): void
  /** The circuit entered `state` (updates the state gauge). */
  state(state: StateName): void
  /** The circuit's mode went from `from` to `to` (updates the mode gauge, tagged `mode`). */
  mode(from: Mode, to: Mode): void
  /** Keeps a failed attempt in `lastFailures`. */
  failedAttempt(error: unknown, timestamp: number, attempt: number): void
  /** A call the bulkhead turned away. */
  bulkheadRejected(): void
  /** A call the fallback answered. */
  fallback(): void
  /** An attempt slower than `slowCallDurationThreshold`. */
  slow(): void
  /** The sliding window's rates after an outcome (updates their gauges). */
  window(failureRate: number, slowCallRate: number): void
  /** The counters, with the rates and the mode read from the circuit's state. */
  snapshot(state: StateName, live?: LiveMetrics): CircuitMetrics
  /** The counters and the call-duration histogram, for a Prometheus exposition. */
  series(): MetricSeries
}

/**
 * What a snapshot takes from the circuit's state rather than from the counters.
 *
 * @since 0.1.0
 * @category models
 */
export type LiveMetrics = internal.LiveMetrics

/**
 * A recorder for one circuit. It also updates the Effect metrics tagged `circuit=<circuit>`
 * once something in the process uses Effect metrics (anything that loads `effect/Metric`, such
 * as an exporter), adding to them what it counted before; until then it loads none of
 * Effect's metric modules.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRecorder = (circuit: string, serviceId: string, failureHistorySize: number): Recorder =>
  new internal.MetricsRecorder(circuit, serviceId, failureHistorySize)

/**
 * The metrics of a circuit that counts nothing (`metricsTracking: false`): the same as
 * `CircuitBreakerMetrics.empty`, without loading `effect/Metric`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const emptyMetrics: (name: string, state: StateName) => CircuitMetrics = empty

/**
 * The metrics a snapshot reads from the circuit's state: the sliding window's rates as of
 * `now` (-1 below `minimumNumberOfCalls`, without a window, or outside Closed) and the mode.
 *
 * @since 0.1.0
 * @category metrics
 */
export const liveMetrics: (policy: Policy<any>, state: CircuitState<unknown>, now: number) => LiveMetrics =
  live.liveMetrics

/**
 * After an attempt is recorded: counts a slow call (longer than `slowMs`) and updates the
 * window's rate gauges. Nothing for a breaker without a window.
 *
 * @since 0.1.0
 * @category metrics
 */
export const countOutcome: (
  recorder: Pick<Recorder, "slow" | "window"> | undefined,
  policy: Policy<any>,
  state: CircuitState<unknown>,
  durationMs: number | undefined,
  slowMs: number | undefined
) => void = live.countOutcome
