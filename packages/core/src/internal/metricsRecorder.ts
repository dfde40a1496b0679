import { v7 as uuidv7 } from "uuid"
import type { CircuitMetrics, FailureContext, LatencySummary, StateName } from "../CircuitBreakerMetrics.js"
import type { Mode } from "../CircuitBreakerState.js"
import type { MetricSeries, Transition } from "../LiveCircuits.js"
import {
  effectMetricsInUse,
  loadedTaggedMetrics,
  loadTaggedMetrics,
  type TaggedMetricsOf
} from "./effectMetricsDemand.js"
import * as LiveCircuits from "./liveCircuits.js"
import { durationBuckets } from "./metricDefinitions.js"
import type { TaggedMetrics } from "./taggedMetrics.js"

const RESERVOIR_SIZE = 1024
/**
 * Slots after the reservoir: the sum and the max of every latency, the last window rates, the
 * histogram's bucket counts, then each bucket's sum of latencies while no Effect metric is
 * attached (what the histogram is caught up with when one is).
 */
const SUM = RESERVOIR_SIZE
const MAX = RESERVOIR_SIZE + 1
const FAILURE_RATE = RESERVOIR_SIZE + 2
const SLOW_CALL_RATE = RESERVOIR_SIZE + 3
const BUCKETS = RESERVOIR_SIZE + 4
/** The buckets' upper bounds in milliseconds; a last bucket (+Inf) follows them. */
const BUCKET_BOUNDS_MS = durationBuckets.map((seconds) => Math.round(seconds * 1e6) / 1e3)
const BUCKET_COUNT = BUCKET_BOUNDS_MS.length + 1
const BUCKET_SUMS = BUCKETS + BUCKET_COUNT

/** What a snapshot takes from the circuit's state rather than from the counters. */
export interface LiveMetrics {
  readonly failureRate: number
  readonly slowCallRate: number
  readonly mode: Mode
}

const NO_WINDOW: LiveMetrics = { failureRate: -1, slowCallRate: -1, mode: "normal" }

/** @internal */
export const stateGaugeValue = (state: StateName): number => (state === "Closed" ? 0 : state === "HalfOpen" ? 1 : 2)

/**
 * The mutable counters behind a breaker's metrics. Updated synchronously on the call
 * path (plain field increments and one ring-buffer write), read by `snapshot`.
 *
 * The Effect metrics tagged with the circuit are updated too, once attached: by the Effect
 * API at the first call (it passes `metricsOf`), by the Promise API once something in the
 * process uses Effect metrics (until then it loads none of Effect's metric modules). What was
 * counted before they attach is added to them when they do.
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
  /** The modes the circuit left (none until its mode first changes), and its mode now. */
  private modesLeft: Array<Mode> | undefined
  private modeNow: Mode = "normal"

  /** The Effect metrics tagged with this circuit, made on first use (each registers a hook). */
  private tagged: TaggedMetrics | undefined

  constructor(
    readonly circuit: string,
    readonly serviceId: string,
    readonly failureHistorySize: number,
    private readonly metricsOf?: TaggedMetricsOf
  ) {}

  /** The Effect metrics, attached first if they are wanted now; called before anything is counted. */
  private effect(): TaggedMetrics | undefined {
    if (this.tagged !== undefined) return this.tagged
    const metricsOf = this.metricsOf ?? loadedTaggedMetrics()
    if (metricsOf !== undefined) return this.attach(metricsOf)
    if (effectMetricsInUse()) loadTaggedMetrics(attachLiveRecorders)
    return undefined
  }

  /** Makes the Effect metrics and adds to them what this recorder counted before. */
  attach(metricsOf: TaggedMetricsOf): TaggedMetrics {
    if (this.tagged !== undefined) return this.tagged
    const m = (this.tagged = metricsOf(this.circuit))
    m.calls.update(this.totalCalls)
    m.successes.update(this.successCalls)
    m.failed.update(this.failureCalls)
    m.rejections.update(this.rejectedCalls)
    m.timeouts.update(this.timeoutCalls)
    m.retried.update(this.retries)
    m.bulkheadRejections.update(this.bulkheadRejections)
    m.fallbacks.update(this.fallbackCalls)
    m.slow.update(this.slowCalls)
    m.gauge.update(stateGaugeValue(this.current))
    for (const { from, to, count } of this.transitionCounts) m.transition(from, to).update(count)
    for (const left of this.modesLeft ?? []) if (left !== this.modeNow) m.mode(left, this.modeNow)
    const buffer = this.reservoir
    if (buffer === undefined) return m
    if (!Number.isNaN(buffer[FAILURE_RATE])) {
      m.failureRate.update(buffer[FAILURE_RATE]!)
      m.slowCallRate.update(buffer[SLOW_CALL_RATE]!)
    }
    // Each bucket's calls at their mean latency: the count, the buckets and the sum come out exact.
    for (let bucket = 0; bucket < BUCKET_COUNT; bucket++) {
      const calls = buffer[BUCKETS + bucket]!
      const meanSeconds = buffer[BUCKET_SUMS + bucket]! / calls / 1000
      for (let i = 0; i < calls; i++) m.histogram.update(meanSeconds)
    }
    return m
  }

  private buffer(): Float64Array {
    if (this.reservoir !== undefined) return this.reservoir
    const buffer = new Float64Array(BUCKET_SUMS + BUCKET_COUNT)
    buffer[FAILURE_RATE] = Number.NaN
    buffer[SLOW_CALL_RATE] = Number.NaN
    return (this.reservoir = buffer)
  }

  private latency(millis: number, m: TaggedMetrics | undefined): void {
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
    if (m !== undefined) m.histogram.update(millis / 1000)
    else buffer[BUCKET_SUMS + bucket] = buffer[BUCKET_SUMS + bucket]! + millis
  }

  success(latencyMillis: number): void {
    const m = this.effect()
    this.totalCalls++
    this.successCalls++
    if (m !== undefined) {
      m.calls.update(1)
      m.successes.update(1)
    }
    this.latency(latencyMillis, m)
  }

  failure(latencyMillis: number, timedOut: boolean): void {
    const m = this.effect()
    this.totalCalls++
    this.failureCalls++
    m?.calls.update(1)
    m?.failed.update(1)
    if (timedOut) {
      this.timeoutCalls++
      m?.timeouts.update(1)
    }
    this.latency(latencyMillis, m)
  }

  rejected(): void {
    const m = this.effect()
    this.totalCalls++
    this.failureCalls++
    this.rejectedCalls++
    m?.calls.update(1)
    m?.failed.update(1)
    m?.rejections.update(1)
  }

  /** A call whose error `isFailure` ignores: counted in `totalCalls` and `ignoredCalls` only. */
  ignored(): void {
    const m = this.effect()
    this.totalCalls++
    this.ignoredCalls++
    m?.calls.update(1)
  }

  retry(): void {
    const m = this.effect()
    this.retries++
    m?.retried.update(1)
  }

  /** A call the bulkhead turned away: not a call of the service (not in `totalCalls`). */
  bulkheadRejected(): void {
    const m = this.effect()
    this.bulkheadRejections++
    m?.bulkheadRejections.update(1)
  }

  /** A call the fallback answered (Promise API). */
  fallback(): void {
    const m = this.effect()
    this.fallbackCalls++
    m?.fallbacks.update(1)
  }

  /**
   * The circuit's mode changed: its gauge, tagged `mode`, goes to 0 for `from` and to 1 for
   * `to`. Made when the mode first changes: a circuit that never left `"normal"` has none.
   */
  mode(from: Mode, to: Mode): void {
    if (from === to) return
    const m = this.effect()
    const left = (this.modesLeft ??= [])
    if (!left.includes(from)) left.push(from)
    this.modeNow = to
    m?.mode(from, to)
  }

  /** An attempt slower than `slowCallDurationThreshold`. */
  slow(): void {
    const m = this.effect()
    this.slowCalls++
    m?.slow.update(1)
  }

  state(state: StateName): void {
    const m = this.effect()
    m?.gauge.update(stateGaugeValue(state))
    const from = this.current
    if (from === state) return
    this.current = state
    m?.transition(from, state).update(1)
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
    const m = this.effect()
    if (m !== undefined) {
      m.failureRate.update(failureRate)
      m.slowCallRate.update(slowCallRate)
    } else {
      const buffer = this.buffer()
      buffer[FAILURE_RATE] = failureRate
      buffer[SLOW_CALL_RATE] = slowCallRate
    }
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

/** Attaches the Effect metrics of every live breaker's recorder that has none yet. */
const attachLiveRecorders = (metricsOf: TaggedMetricsOf): void => {
  for (const { recorder } of LiveCircuits.live()) {
    if (recorder instanceof MetricsRecorder) recorder.attach(metricsOf)
  }
}
