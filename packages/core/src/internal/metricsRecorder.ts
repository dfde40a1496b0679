import type * as MetricHook from "effect/MetricHook"
import * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"
import { v7 as uuidv7 } from "uuid"
import type { CircuitMetrics, FailureContext, LatencySummary, StateName } from "../CircuitBreakerMetrics.js"
import type { Mode } from "../CircuitBreakerState.js"
import type { MetricSeries, Transition } from "../LiveCircuits.js"
import { durationBuckets } from "./metricDefinitions.js"
import { effectMetricKeys as keys } from "./metricKeys.js"
import { globalMetricRegistry as registry } from "./metricRegistry.js"

const RESERVOIR_SIZE = 1024
/** Slots after the reservoir: the sum and the max of every latency, then the histogram's bucket counts. */
const SUM = RESERVOIR_SIZE
const MAX = RESERVOIR_SIZE + 1
const BUCKETS = RESERVOIR_SIZE + 2
/** The buckets' upper bounds in milliseconds; a last bucket (+Inf) follows them. */
const BUCKET_BOUNDS_MS = durationBuckets.map((seconds) => Math.round(seconds * 1e6) / 1e3)
const BUCKET_COUNT = BUCKET_BOUNDS_MS.length + 1

type Counter = MetricHook.MetricHook.Counter<number>

/** The registry hooks of this circuit's Effect metrics, updated directly (what `Metric.update` ends in). */
interface TaggedMetrics {
  readonly calls: Counter
  readonly successes: Counter
  readonly failed: Counter
  readonly rejections: Counter
  readonly timeouts: Counter
  readonly retried: Counter
  readonly bulkheadRejections: Counter
  readonly fallbacks: Counter
  readonly slow: Counter
  readonly failureRate: MetricHook.MetricHook.Gauge<number>
  readonly slowCallRate: MetricHook.MetricHook.Gauge<number>
  readonly gauge: MetricHook.MetricHook.Gauge<number>
  readonly histogram: MetricHook.MetricHook.Histogram
  /** By `from->to`, made at the first such change. */
  readonly transitions: Map<string, Counter>
}

/** What a snapshot takes from the circuit's state rather than from the counters. */
export interface LiveMetrics {
  readonly failureRate: number
  readonly slowCallRate: number
  readonly mode: Mode
}

const NO_WINDOW: LiveMetrics = { failureRate: -1, slowCallRate: -1, mode: "normal" }

/** @internal */
export const stateGaugeValue = (state: StateName): number => (state === "Closed" ? 0 : state === "HalfOpen" ? 1 : 2)

const tag = <Type extends MetricKeyType.MetricKeyType<any, any>>(key: MetricKey.MetricKey<Type>, circuit: string) =>
  MetricKey.tagged(key, "circuit", circuit)

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
  ignoredCalls = 0
  retries = 0
  bulkheadRejections = 0
  fallbackCalls = 0
  slowCalls = 0
  private latencyCount = 0
  /** Allocated on the first call: an idle breaker holds no buffer. */
  private reservoir: Float64Array | undefined
  private readonly failures: Array<FailureContext> = []
  private failureHead = 0
  /** The state last reported through `state`, to count transitions from it. */
  private current: StateName = "Closed"
  private readonly transitionCounts: Array<Transition> = []

  /** The Effect metrics tagged with this circuit, made on first use (each registers a hook). */
  private tagged: TaggedMetrics | undefined

  constructor(
    readonly circuit: string,
    readonly serviceId: string,
    readonly failureHistorySize: number
  ) {}

  private get m(): TaggedMetrics {
    return (this.tagged ??= {
      calls: registry.getCounter(tag(keys.calls, this.circuit)),
      successes: registry.getCounter(tag(keys.successes, this.circuit)),
      failed: registry.getCounter(tag(keys.failures, this.circuit)),
      rejections: registry.getCounter(tag(keys.rejections, this.circuit)),
      timeouts: registry.getCounter(tag(keys.timeouts, this.circuit)),
      retried: registry.getCounter(tag(keys.retries, this.circuit)),
      bulkheadRejections: registry.getCounter(tag(keys.bulkheadRejections, this.circuit)),
      fallbacks: registry.getCounter(tag(keys.fallbacks, this.circuit)),
      slow: registry.getCounter(tag(keys.slowCalls, this.circuit)),
      failureRate: registry.getGauge(tag(keys.failureRate, this.circuit)),
      slowCallRate: registry.getGauge(tag(keys.slowCallRate, this.circuit)),
      gauge: registry.getGauge(tag(keys.state, this.circuit)),
      histogram: registry.getHistogram(tag(keys.duration, this.circuit)),
      transitions: new Map()
    })
  }

  private buffer(): Float64Array {
    return (this.reservoir ??= new Float64Array(BUCKETS + BUCKET_COUNT))
  }

  private latency(millis: number, m: TaggedMetrics): void {
    // The sum and the max live in the buffer too: a double in a field would be boxed (a new
    // heap number, written into a long-lived object) on every call.
    const buffer = this.buffer()
    buffer[this.latencyCount % RESERVOIR_SIZE] = millis
    this.latencyCount++
    buffer[SUM] = buffer[SUM]! + millis
    if (millis > buffer[MAX]!) buffer[MAX] = millis
    let bucket = 0
    while (bucket < BUCKET_BOUNDS_MS.length && millis > BUCKET_BOUNDS_MS[bucket]!) bucket++
    buffer[BUCKETS + bucket]!++
    m.histogram.update(millis / 1000)
  }

  success(latencyMillis: number): void {
    this.totalCalls++
    this.successCalls++
    const m = this.m
    m.calls.update(1)
    m.successes.update(1)
    this.latency(latencyMillis, m)
  }

  failure(latencyMillis: number, timedOut: boolean): void {
    this.totalCalls++
    this.failureCalls++
    this.m.calls.update(1)
    this.m.failed.update(1)
    if (timedOut) {
      this.timeoutCalls++
      this.m.timeouts.update(1)
    }
    this.latency(latencyMillis, this.m)
  }

  rejected(): void {
    this.totalCalls++
    this.failureCalls++
    this.rejectedCalls++
    this.m.calls.update(1)
    this.m.failed.update(1)
    this.m.rejections.update(1)
  }

  /** A call whose error `isFailure` ignores: counted in `totalCalls` and `ignoredCalls` only. */
  ignored(): void {
    this.totalCalls++
    this.ignoredCalls++
    this.m.calls.update(1)
  }

  retry(): void {
    this.retries++
    this.m.retried.update(1)
  }

  /** A call the bulkhead turned away: not a call of the service (not in `totalCalls`). */
  bulkheadRejected(): void {
    this.bulkheadRejections++
    this.m.bulkheadRejections.update(1)
  }

  /** A call the fallback answered (Promise API). */
  fallback(): void {
    this.fallbackCalls++
    this.m.fallbacks.update(1)
  }

  /**
   * The circuit's mode changed: its gauge, tagged `mode`, goes to 0 for `from` and to 1 for
   * `to`. Made when the mode first changes: a circuit that never left `"normal"` has none.
   */
  mode(from: Mode, to: Mode): void {
    const key = tag(keys.mode, this.circuit)
    registry.getGauge(MetricKey.tagged(key, "mode", from)).update(0)
    registry.getGauge(MetricKey.tagged(key, "mode", to)).update(1)
  }

  /** An attempt slower than `slowCallDurationThreshold`. */
  slow(): void {
    this.slowCalls++
    this.m.slow.update(1)
  }

  state(state: StateName): void {
    const m = this.m
    m.gauge.update(stateGaugeValue(state))
    const from = this.current
    if (from === state) return
    this.current = state
    const key = `${from}->${state}`
    let counter = m.transitions.get(key)
    if (counter === undefined) {
      counter = registry.getCounter(
        MetricKey.tagged(MetricKey.tagged(tag(keys.transitions, this.circuit), "from", from), "to", state)
      )
      m.transitions.set(key, counter)
    }
    counter.update(1)
    const index = this.transitionCounts.findIndex((t) => t.from === from && t.to === state)
    if (index === -1) this.transitionCounts.push({ from, to: state, count: 1 })
    else this.transitionCounts[index] = { from, to: state, count: this.transitionCounts[index]!.count + 1 }
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

  /** The counters and the call-duration histogram, as a Prometheus exposition needs them. */
  series(): MetricSeries {
    const buffer = this.reservoir
    const buckets: Array<number> = []
    for (let i = 0; i < BUCKET_COUNT; i++) buckets.push(buffer === undefined ? 0 : buffer[BUCKETS + i]!)
    return {
      calls: this.totalCalls,
      successes: this.successCalls,
      failures: this.failureCalls,
      rejections: this.rejectedCalls,
      timeouts: this.timeoutCalls,
      retries: this.retries,
      slowCalls: this.slowCalls,
      bulkheadRejections: this.bulkheadRejections,
      fallbackCalls: this.fallbackCalls,
      durationCount: this.latencyCount,
      durationSumSeconds: buffer === undefined ? 0 : buffer[SUM]! / 1000,
      durationBuckets: buckets,
      transitions: this.transitionCounts.slice()
    }
  }

  /** The sliding window's rates after an outcome (the gauges; `snapshot` takes them live). */
  window(failureRate: number, slowCallRate: number): void {
    this.m.failureRate.update(failureRate)
    this.m.slowCallRate.update(slowCallRate)
  }

  snapshot(state: StateName, live: LiveMetrics = NO_WINDOW): CircuitMetrics {
    return {
      name: this.circuit,
      state,
      failureRate: live.failureRate,
      slowCallRate: live.slowCallRate,
      mode: live.mode,
      totalCalls: this.totalCalls,
      successCalls: this.successCalls,
      failureCalls: this.failureCalls,
      rejectedCalls: this.rejectedCalls,
      timeoutCalls: this.timeoutCalls,
      ignoredCalls: this.ignoredCalls,
      retries: this.retries,
      bulkheadRejections: this.bulkheadRejections,
      fallbackCalls: this.fallbackCalls,
      slowCalls: this.slowCalls,
      latency: this.latencySummary(),
      lastFailures: this.lastFailures()
    }
  }
}
