import { CircuitBreakerMetrics } from "@circuit-breaker/core"
import { RedisCircuitBreakerStore } from "@circuit-breaker/redis"
import { type PoliciesView, policiesOf, worse } from "./aggregate.js"
import { byName, type Circuit } from "./circuits.js"

/** How an error of a failed call is shown: its name and message, credentials removed. */
export interface ErrorView {
  readonly name: string
  readonly message: string
}

export interface FailureView {
  readonly id: string
  readonly timestamp: number
  readonly attempt: number
  readonly error: ErrorView
}

/** One circuit of this process, as `/circuits` shows it. */
export interface CircuitView {
  readonly name: string
  readonly state: CircuitBreakerMetrics.StateName
  readonly mode: "local" | "distributed"
  /** The APIs of its live breakers (several breakers may run one circuit). */
  readonly apis: ReadonlyArray<"effect" | "promise">
  readonly breakers: number
  readonly metrics: CircuitBreakerMetrics.MetricsTotals & {
    readonly latency: CircuitBreakerMetrics.LatencySummary
  }
  readonly lastFailures: ReadonlyArray<FailureView>
  /** Its mode (`setMode`), its sliding window's rates and the policies' counters. */
  readonly policies: PoliciesView
}

export const errorView = (error: unknown): ErrorView => {
  if (error instanceof Error) {
    return { name: error.name, message: RedisCircuitBreakerStore.redact(error.message) }
  }
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const tagged = error as { readonly _tag: unknown; readonly message?: unknown }
    return { name: String(tagged._tag), message: RedisCircuitBreakerStore.redact(String(tagged.message ?? "")) }
  }
  return { name: typeof error, message: RedisCircuitBreakerStore.redact(String(error)) }
}

const failureView = (failure: CircuitBreakerMetrics.FailureContext): FailureView => ({
  id: failure.id,
  timestamp: failure.timestamp,
  attempt: failure.attempt,
  error: errorView(failure.error)
})

/** One view per circuit name; the counters of breakers sharing a circuit are added up. */
export const circuitViews = (circuits: ReadonlyArray<Circuit>, failures = 10): Array<CircuitView> => {
  const views: Array<CircuitView> = []
  for (const [name, group] of byName(circuits)) {
    const metrics = group.map((circuit) => circuit.metrics())
    const { totals } = CircuitBreakerMetrics.aggregate(metrics)
    const lastFailures = metrics
      .flatMap((m) => m.lastFailures)
      .sort((a, b) => a.timestamp - b.timestamp)
      .slice(-failures)
      .map(failureView)
    views.push({
      name,
      state: metrics.map((m) => m.state).reduce(worse),
      mode: group.some((circuit) => circuit.distributed) ? "distributed" : "local",
      apis: [...new Set(group.map((circuit) => circuit.api))],
      breakers: group.length,
      metrics: { ...totals, latency: metrics[0]!.latency },
      lastFailures,
      policies: policiesOf(group)
    })
  }
  return views.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}
