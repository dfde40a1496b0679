import * as Metric from "effect/Metric"
import * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"
import { v7 as uuidv7 } from "uuid"
import type { CircuitMetrics, FailureContext, LatencySummary, StateName } from "../CircuitBreakerMetrics.js"
import { effectMetricKeys as keys } from "./metricKeys.js"

const RESERVOIR_SIZE = 1024
/** Slots after the reservoir: the sum and the max of every latency. */
const SUM = RESERVOIR_SIZE
const MAX = RESERVOIR_SIZE + 1

type Counter = Metric.Metric.Counter<number>

interface TaggedMetrics {
  readonly calls: Counter
  readonly successes: Counter
  readonly failed: Counter
  readonly rejections: Counter
  readonly timeouts: Counter
  readonly retried: Counter
  readonly gauge: Metric.Metric.Gauge<number>
  readonly histogram: Metric.Metric.Histogram<number>
}

/** No extra metric tags: one array for every update, rather than a new `[]` each. */
const NO_TAGS: ReadonlyArray<never> = []

/** @internal */
export const stateGaugeValue = (state: StateName): number => (state === "Closed" ? 0 : state === "HalfOpen" ? 1 : 2)

/** The metric of `key` tagged with the circuit: its registry hook is looked up once, on its first update. */
const tagged = <Type extends MetricKeyType.MetricKeyType<any, any>>(key: MetricKey.MetricKey<Type>, circuit: string) =>
  Metric.fromMetricKey(MetricKey.tagged(key, "circuit", circuit))

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
  /** Allocated on the first call: an idle breaker holds no buffer. */
  private reservoir: Float64Array | undefined
  private readonly failures: Array<FailureContext> = []
  private failureHead = 0

  /** The Effect metrics tagged with this circuit, made on first use (each registers a hook). */
  private tagged: TaggedMetrics | undefined

  constructor(
    readonly circuit: string,
    readonly serviceId: string,
    readonly failureHistorySize: number
  ) {}

  private get m(): TaggedMetrics {
    return (this.tagged ??= {
      calls: tagged(keys.calls, this.circuit),
      successes: tagged(keys.successes, this.circuit),
      failed: tagged(keys.failures, this.circuit),
      rejections: tagged(keys.rejections, this.circuit),
      timeouts: tagged(keys.timeouts, this.circuit),
      retried: tagged(keys.retries, this.circuit),
      gauge: tagged(keys.state, this.circuit),
      histogram: tagged(keys.latency, this.circuit)
    })
  }

  private buffer(): Float64Array {
    return (this.reservoir ??= new Float64Array(RESERVOIR_SIZE + 2))
  }

  private latency(millis: number): void {
    // The sum and the max live in the buffer too: a double in a field would be boxed (a new
    // heap number, written into a long-lived object) on every call.
    const buffer = this.buffer()
    buffer[this.latencyCount % RESERVOIR_SIZE] = millis
    this.latencyCount++
    buffer[SUM] = buffer[SUM]! + millis
    if (millis > buffer[MAX]!) buffer[MAX] = millis
    this.m.histogram.unsafeUpdate(millis, NO_TAGS)
  }

  success(latencyMillis: number): void {
    this.totalCalls++
    this.successCalls++
    this.m.calls.unsafeUpdate(1, NO_TAGS)
    this.m.successes.unsafeUpdate(1, NO_TAGS)
    this.latency(latencyMillis)
  }

  failure(latencyMillis: number, timedOut: boolean): void {
    this.totalCalls++
    this.failureCalls++
    this.m.calls.unsafeUpdate(1, NO_TAGS)
    this.m.failed.unsafeUpdate(1, NO_TAGS)
    if (timedOut) {
      this.timeoutCalls++
      this.m.timeouts.unsafeUpdate(1, NO_TAGS)
    }
    this.latency(latencyMillis)
  }

  rejected(): void {
    this.totalCalls++
    this.failureCalls++
    this.rejectedCalls++
    this.m.calls.unsafeUpdate(1, NO_TAGS)
    this.m.failed.unsafeUpdate(1, NO_TAGS)
    this.m.rejections.unsafeUpdate(1, NO_TAGS)
  }

  retry(): void {
    this.retries++
    this.m.retried.unsafeUpdate(1, NO_TAGS)
  }

  state(state: StateName): void {
    this.m.gauge.unsafeUpdate(stateGaugeValue(state), NO_TAGS)
  }

  failedAttempt(error: unknown, time: number, attempt: number): void {
    if (this.failureHistorySize === 0) return
    // Whole milliseconds since the epoch, as documented (the live clock has sub-millisecond precision).
    const timestamp = Math.round(time)
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
    const sorted = this.reservoir!.slice(0, n).sort()
    const at = (q: number) => sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]!
    return {
      count: this.latencyCount,
      mean: this.reservoir![SUM]! / this.latencyCount,
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      max: this.reservoir![MAX]!
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
