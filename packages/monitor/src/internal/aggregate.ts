import { CircuitBreakerMetrics, type LiveCircuits } from "@circuit-breaker/core"

type StateName = CircuitBreakerMetrics.StateName
type Series = LiveCircuits.MetricSeries

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
