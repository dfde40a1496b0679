import { CircuitBreakerMetrics, type CircuitBreakerState, type LiveCircuits } from "@circuit-breaker/core"
import type { LiveMetrics } from "@circuit-breaker/core/MetricsRecorder"

type StateName = CircuitBreakerMetrics.StateName
type Series = LiveCircuits.MetricSeries

/** The rates and mode of breakers sharing a circuit: the higher rates, and a mode other than `"normal"` if one has it. */
export const worseLive = (a: LiveMetrics, b: LiveMetrics): LiveMetrics => ({
  failureRate: Math.max(a.failureRate, b.failureRate),
  slowCallRate: Math.max(a.slowCallRate, b.slowCallRate),
  mode: a.mode === "normal" ? b.mode : a.mode
})

/** What the policies show of a circuit: its mode, its window's rates (percent, -1 when not computed) and their counters. */
export interface PoliciesView {
  readonly circuitMode: CircuitBreakerState.Mode
  readonly failureRate: number
  readonly slowCallRate: number
  readonly slowCalls: number
  readonly bulkheadRejections: number
  readonly fallbackCalls: number
}

export const policiesView = (live: LiveMetrics, series: Series | undefined): PoliciesView => ({
  circuitMode: live.mode,
  failureRate: live.failureRate,
  slowCallRate: live.slowCallRate,
  slowCalls: series?.slowCalls ?? 0,
  bulkheadRejections: series?.bulkheadRejections ?? 0,
  fallbackCalls: series?.fallbackCalls ?? 0
})

/** The worse of two states, for a circuit whose breakers disagree for a moment. */
export const worse = (a: StateName, b: StateName): StateName =>
  CircuitBreakerMetrics.stateGaugeValue(a) >= CircuitBreakerMetrics.stateGaugeValue(b) ? a : b

/** The sums of two series: several breakers running one circuit. */
export const addSeries = (a: Series, b: Series): Series => {
  const transitions = a.transitions.map((t) => ({ ...t }))
  for (const t of b.transitions) {
    const i = transitions.findIndex((u) => u.from === t.from && u.to === t.to)
    if (i === -1) transitions.push({ ...t })
    else transitions[i] = { ...t, count: transitions[i]!.count + t.count }
  }
  return {
    calls: a.calls + b.calls,
    successes: a.successes + b.successes,
    failures: a.failures + b.failures,
    rejections: a.rejections + b.rejections,
    timeouts: a.timeouts + b.timeouts,
    retries: a.retries + b.retries,
    slowCalls: a.slowCalls + b.slowCalls,
    bulkheadRejections: a.bulkheadRejections + b.bulkheadRejections,
    fallbackCalls: a.fallbackCalls + b.fallbackCalls,
    durationCount: a.durationCount + b.durationCount,
    durationSumSeconds: a.durationSumSeconds + b.durationSumSeconds,
    durationBuckets: a.durationBuckets.map((n, i) => n + (b.durationBuckets[i] ?? 0)),
    transitions
  }
}

/** The counters of a circuit's breakers added up; `undefined` when none counts. */
export const sum = (group: ReadonlyArray<{ series(): Series | undefined }>): Series | undefined => {
  let total: Series | undefined
  for (const circuit of group) {
    const s = circuit.series()
    if (s !== undefined) total = total === undefined ? s : addSeries(total, s)
  }
  return total
}

/** The policies view of a circuit's breakers. */
export const policiesOf = (
  group: ReadonlyArray<{ live(): LiveMetrics; series(): Series | undefined }>,
  series: Series | undefined = sum(group)
): PoliciesView => policiesView(group.map((circuit) => circuit.live()).reduce(worseLive), series)
