import * as Metric from "effect/Metric"
import { v7 as uuidv7 } from "uuid"
import {
  type CircuitMetrics,
  effectMetrics,
  type FailureContext,
  type LatencySummary,
  type StateName,
  stateGaugeValue
} from "../CircuitBreakerMetrics.js"

const RESERVOIR_SIZE = 1024

type Counter = typeof effectMetrics.calls

const tagged = <T extends Metric.Metric<any, any, any>>(metric: T, circuit: string): T =>
  Metric.tagged(metric, "circuit", circuit) as unknown as T

/**
 * The mutable counters behind a breaker's metrics. Updated synchronously on the call
 * path (plain field increments and one ring-buffer write), read by `snapshot`.
 *
 * @internal
 */
export class MetricsRecorder {
  totalCalls = 0
  successCalls = 0
  failureCalls = 0
  rejectedCalls = 0
  timeoutCalls = 0
  retries = 0
  private latencyCount = 0
  private latencySum = 0
  private latencyMax = 0
  private readonly reservoir = new Float64Array(RESERVOIR_SIZE)
  private readonly failures: Array<FailureContext> = []
  private failureHead = 0

  private readonly calls: Counter
  private readonly successes: Counter
  private readonly failed: Counter
  private readonly rejections: Counter
  private readonly timeouts: Counter
  private readonly retried: Counter
  private readonly gauge: typeof effectMetrics.state
  private readonly histogram: typeof effectMetrics.latency

  constructor(
    readonly circuit: string,
    readonly serviceId: string,
    readonly failureHistorySize: number
  ) {
    this.calls = tagged(effectMetrics.calls, circuit)
    this.successes = tagged(effectMetrics.successes, circuit)
    this.failed = tagged(effectMetrics.failures, circuit)
    this.rejections = tagged(effectMetrics.rejections, circuit)
    this.timeouts = tagged(effectMetrics.timeouts, circuit)
    this.retried = tagged(effectMetrics.retries, circuit)
    this.gauge = tagged(effectMetrics.state, circuit)
    this.histogram = tagged(effectMetrics.latency, circuit)
  }

  private latency(millis: number): void {
    this.reservoir[this.latencyCount % RESERVOIR_SIZE] = millis
    this.latencyCount++
    this.latencySum += millis
    if (millis > this.latencyMax) this.latencyMax = millis
    this.histogram.unsafeUpdate(millis, [])
  }

  success(latencyMillis: number): void {
    this.totalCalls++
    this.successCalls++
    this.calls.unsafeUpdate(1, [])
    this.successes.unsafeUpdate(1, [])
    this.latency(latencyMillis)
  }

  failure(latencyMillis: number, timedOut: boolean): void {
    this.totalCalls++
    this.failureCalls++
    this.calls.unsafeUpdate(1, [])
    this.failed.unsafeUpdate(1, [])
    if (timedOut) {
      this.timeoutCalls++
      this.timeouts.unsafeUpdate(1, [])
    }
    this.latency(latencyMillis)
  }

  rejected(): void {
    this.totalCalls++
    this.failureCalls++
    this.rejectedCalls++
    this.calls.unsafeUpdate(1, [])
    this.failed.unsafeUpdate(1, [])
    this.rejections.unsafeUpdate(1, [])
  }

  retry(): void {
    this.retries++
    this.retried.unsafeUpdate(1, [])
  }

  state(state: StateName): void {
    this.gauge.unsafeUpdate(stateGaugeValue(state), [])
  }

  failedAttempt(error: unknown, timestamp: number, attempt: number): void {
    if (this.failureHistorySize === 0) return
    const entry: FailureContext = {
      id: uuidv7({ msecs: timestamp }),
      error,
      timestamp,
      serviceId: this.serviceId,
      circuit: this.circuit,
      attempt
    }
    if (this.failures.length < this.failureHistorySize) this.failures.push(entry)
    else {
      this.failures[this.failureHead] = entry
      this.failureHead = (this.failureHead + 1) % this.failureHistorySize
    }
  }

  /** Oldest first. */
  lastFailures(): ReadonlyArray<FailureContext> {
    return this.failures.length < this.failureHistorySize
      ? this.failures.slice()
      : [...this.failures.slice(this.failureHead), ...this.failures.slice(0, this.failureHead)]
  }

  latencySummary(): LatencySummary {
    const n = Math.min(this.latencyCount, RESERVOIR_SIZE)
    if (n === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 }
    const sorted = this.reservoir.slice(0, n).sort()
    const at = (q: number) => sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]!
    return {
      count: this.latencyCount,
      mean: this.latencySum / this.latencyCount,
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      max: this.latencyMax
    }
  }

  snapshot(state: StateName): CircuitMetrics {
    return {
      name: this.circuit,
      state,
      totalCalls: this.totalCalls,
      successCalls: this.successCalls,
      failureCalls: this.failureCalls,
      rejectedCalls: this.rejectedCalls,
      timeoutCalls: this.timeoutCalls,
      retries: this.retries,
      latency: this.latencySummary(),
      lastFailures: this.lastFailures()
    }
  }
}
