import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"

/**
 * The keys of the Effect metrics every breaker updates. A breaker makes its metrics from
 * these keys tagged with its circuit, rather than with `Metric.tagged`: a `Metric.tagged`
 * metric looks its hook up in the registry again on every update.
 *
 * @internal
 */
export const effectMetricKeys = {
  calls: MetricKey.counter("circuit_breaker_calls_total", { description: "Calls made through the breaker" }),
  successes: MetricKey.counter("circuit_breaker_successes_total", { description: "Calls that succeeded" }),
  failures: MetricKey.counter("circuit_breaker_failures_total", {
    description: "Calls that failed (rejections and timeouts included)"
  }),
  rejections: MetricKey.counter("circuit_breaker_rejections_total", {
    description: "Calls rejected by an open circuit"
  }),
  timeouts: MetricKey.counter("circuit_breaker_timeouts_total", { description: "Calls whose last attempt timed out" }),
  retries: MetricKey.counter("circuit_breaker_retries_total", { description: "Attempts after the first" }),
  bulkheadRejections: MetricKey.counter("circuit_breaker_bulkhead_rejections_total", {
    description: "Calls the bulkhead turned away (maxConcurrent running, maxQueue waiting, or queueTimeout passed)"
  }),
  fallbacks: MetricKey.counter("circuit_breaker_fallback_calls_total", { description: "Calls the fallback answered" }),
  slowCalls: MetricKey.counter("circuit_breaker_slow_calls_total", {
    description: "Attempts slower than slowCallDurationThreshold"
  }),
  failureRate: MetricKey.gauge("circuit_breaker_failure_rate", {
    description: "Percent of the sliding window's calls that failed; -1 below minimumNumberOfCalls"
  }),
  slowCallRate: MetricKey.gauge("circuit_breaker_slow_call_rate", {
    description: "Percent of the sliding window's calls that were slow; -1 below minimumNumberOfCalls"
  }),
  state: MetricKey.gauge("circuit_breaker_state", { description: "0 = Closed, 1 = Half-Open, 2 = Open" }),
  latency: MetricKey.histogram(
    "circuit_breaker_latency_ms",
    MetricBoundaries.exponential({ start: 1, factor: 2, count: 16 }),
    "Latency of completed calls in milliseconds"
  )
} as const
