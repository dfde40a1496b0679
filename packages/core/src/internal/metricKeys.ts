import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import { durationBuckets, type MetricDefinition, metricDefinitions } from "./metricDefinitions.js"

const counter = (definition: MetricDefinition) =>
  // Declared incremental: exporters then read it as a monotonic sum (a Prometheus counter), not a gauge.
  MetricKey.counter(definition.name, { description: definition.help, incremental: true })

/**
 * The keys of the Effect metrics every breaker updates. A breaker makes its metrics from
 * these keys tagged with its circuit, rather than with `Metric.tagged`: a `Metric.tagged`
 * metric looks its hook up in the registry again on every update.
 *
 * @internal
 */
export const effectMetricKeys = {
  calls: counter(metricDefinitions.calls),
  successes: counter(metricDefinitions.successes),
  failures: counter(metricDefinitions.failures),
  rejections: counter(metricDefinitions.rejections),
  timeouts: counter(metricDefinitions.timeouts),
  retries: counter(metricDefinitions.retries),
  transitions: counter(metricDefinitions.transitions),
  bulkheadRejections: counter(metricDefinitions.bulkheadRejections),
  fallbacks: counter(metricDefinitions.fallbacks),
  slowCalls: counter(metricDefinitions.slowCalls),
  failureRate: MetricKey.gauge(metricDefinitions.failureRate.name, { description: metricDefinitions.failureRate.help }),
  slowCallRate: MetricKey.gauge(metricDefinitions.slowCallRate.name, {
    description: metricDefinitions.slowCallRate.help
  }),
  state: MetricKey.gauge(metricDefinitions.state.name, { description: metricDefinitions.state.help }),
  mode: MetricKey.gauge(metricDefinitions.mode.name, { description: metricDefinitions.mode.help }),
  duration: MetricKey.histogram(
    metricDefinitions.duration.name,
    MetricBoundaries.fromIterable(durationBuckets),
    metricDefinitions.duration.help
  )
} as const
