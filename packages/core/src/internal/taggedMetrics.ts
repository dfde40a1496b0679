import type * as MetricHook from "effect/MetricHook"
import * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"
import type { StateName } from "../CircuitBreakerMetrics.js"
import type { Mode } from "../CircuitBreakerState.js"
import { effectMetricKeys as keys } from "./metricKeys.js"
import { globalMetricRegistry as registry } from "./metricRegistry.js"

type Counter = MetricHook.MetricHook.Counter<number>
type Gauge = MetricHook.MetricHook.Gauge<number>

/**
 * The registry hooks of one circuit's Effect metrics, updated directly (what `Metric.update`
 * ends in). A breaker makes them from the keys tagged with its circuit rather than with
 * `Metric.tagged`, whose metric looks its hook up in the registry again on every update.
 */
export interface TaggedMetrics {
  readonly calls: Counter
  readonly successes: Counter
  readonly failed: Counter
  readonly rejections: Counter
  readonly timeouts: Counter
  readonly retried: Counter
  readonly bulkheadRejections: Counter
  readonly fallbacks: Counter
  readonly slow: Counter
  readonly failureRate: Gauge
  readonly slowCallRate: Gauge
  readonly gauge: Gauge
  readonly histogram: MetricHook.MetricHook.Histogram
  /** By `from->to`, made at the first such change. */
  readonly transitions: Map<string, Counter>
  transition(from: StateName, to: StateName): Counter
  /** The mode gauges, tagged `mode`: 0 for the mode left, 1 for the mode entered. */
  mode(from: Mode, to: Mode): void
}

const tag = <Type extends MetricKeyType.MetricKeyType<any, any>>(key: MetricKey.MetricKey<Type>, circuit: string) =>
  MetricKey.tagged(key, "circuit", circuit)

/**
 * The Effect metrics of `circuit`, each registering its hook in Effect's global registry.
 * This module loads Effect's metric modules: the Effect API imports it, the Promise API only
 * once something in the process uses Effect metrics (see `effectMetricsDemand.ts`).
 *
 * @internal
 */
export const taggedMetrics = (circuit: string): TaggedMetrics => {
  const transitions = new Map<string, Counter>()
  return {
    calls: registry.getCounter(tag(keys.calls, circuit)),
    successes: registry.getCounter(tag(keys.successes, circuit)),
    failed: registry.getCounter(tag(keys.failures, circuit)),
    rejections: registry.getCounter(tag(keys.rejections, circuit)),
    timeouts: registry.getCounter(tag(keys.timeouts, circuit)),
    retried: registry.getCounter(tag(keys.retries, circuit)),
    bulkheadRejections: registry.getCounter(tag(keys.bulkheadRejections, circuit)),
    fallbacks: registry.getCounter(tag(keys.fallbacks, circuit)),
    slow: registry.getCounter(tag(keys.slowCalls, circuit)),
    failureRate: registry.getGauge(tag(keys.failureRate, circuit)),
    slowCallRate: registry.getGauge(tag(keys.slowCallRate, circuit)),
    gauge: registry.getGauge(tag(keys.state, circuit)),
    histogram: registry.getHistogram(tag(keys.duration, circuit)),
    transitions,
    transition: (from, to) => {
      const key = `${from}->${to}`
      let counter = transitions.get(key)
      if (counter === undefined) {
        counter = registry.getCounter(
          MetricKey.tagged(MetricKey.tagged(tag(keys.transitions, circuit), "from", from), "to", to)
        )
        transitions.set(key, counter)
      }
      return counter
    },
    mode: (from, to) => {
      const key = tag(keys.mode, circuit)
      registry.getGauge(MetricKey.tagged(key, "mode", from)).update(0)
      registry.getGauge(MetricKey.tagged(key, "mode", to)).update(1)
    }
  }
}
