/**
 * The mutable counters behind a breaker's metrics, for executors that drive the pure core
 * themselves (such as the Promise API). Exported through `@circuit-breaker/core/internal`.
 *
 * @since 0.1.0
 */
import type { CircuitMetrics, StateName } from "./CircuitBreakerMetrics.js"
import * as internal from "./internal/metricsRecorder.js"

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
  /** Keeps a failed attempt in `lastFailures`. */
  failedAttempt(error: unknown, timestamp: number, attempt: number): void
  snapshot(state: StateName): CircuitMetrics
}

/**
 * A recorder for one circuit; it also updates the Effect metrics tagged `circuit=<circuit>`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRecorder = (circuit: string, serviceId: string, failureHistorySize: number): Recorder =>
  new internal.MetricsRecorder(circuit, serviceId, failureHistorySize)
