/**
 * The upper bounds (seconds) of the call-duration histogram's buckets: 1 ms to 30 s, about
 * three a decade, the shape of Prometheus's default buckets stretched to both ends.
 */
export const durationBuckets: ReadonlyArray<number> = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
]

export type MetricType = "counter" | "gauge" | "histogram"

export interface MetricDefinition {
  readonly name: string
  readonly type: MetricType
  readonly help: string
}

/**
 * Every metric a breaker keeps, once: the Effect metric keys (metricKeys.ts) and the Prometheus
 * exposition of the monitor are both made from these. Every one is tagged `circuit`;
 * `transitions` also `from` and `to`.
 */
export const metricDefinitions = {
  calls: { name: "circuit_breaker_calls_total", type: "counter", help: "Calls made through the breaker" },
  successes: { name: "circuit_breaker_successes_total", type: "counter", help: "Calls that succeeded" },
  failures: {
    name: "circuit_breaker_failures_total",
    type: "counter",
    help: "Calls that failed (rejections and timeouts included)"
  },
  rejections: {
    name: "circuit_breaker_rejections_total",
    type: "counter",
    help: "Calls rejected by an open circuit"
  },
  timeouts: { name: "circuit_breaker_timeouts_total", type: "counter", help: "Calls whose last attempt timed out" },
  retries: { name: "circuit_breaker_retries_total", type: "counter", help: "Attempts after the first" },
  transitions: {
    name: "circuit_breaker_transitions_total",
    type: "counter",
    help: "Changes of state, tagged from and to"
  },
  bulkheadRejections: {
    name: "circuit_breaker_bulkhead_rejections_total",
    type: "counter",
    help: "Calls the bulkhead turned away (maxConcurrent running, maxQueue waiting, or queueTimeout passed)"
  },
  fallbacks: { name: "circuit_breaker_fallback_calls_total", type: "counter", help: "Calls the fallback answered" },
  slowCalls: {
    name: "circuit_breaker_slow_calls_total",
    type: "counter",
    help: "Attempts slower than slowCallDurationThreshold"
  },
  failureRate: {
    name: "circuit_breaker_failure_rate",
    type: "gauge",
    help: "Percent (0 to 100) of the sliding window's calls that failed; -1 below minimumNumberOfCalls or without a window"
  },
  slowCallRate: {
    name: "circuit_breaker_slow_call_rate",
    type: "gauge",
    help: "Percent (0 to 100) of the sliding window's calls that were slow; -1 below minimumNumberOfCalls or without a window"
  },
  state: { name: "circuit_breaker_state", type: "gauge", help: "0 = Closed, 1 = Half-Open, 2 = Open" },
  mode: {
    name: "circuit_breaker_mode",
    type: "gauge",
    help: "1 for the circuit's mode (normal, forcedOpen, forcedClosed, disabled, metricsOnly), 0 for the others; tagged mode"
  },
  duration: {
    name: "circuit_breaker_call_duration_seconds",
    type: "histogram",
    help: "Duration of completed calls in seconds"
  }
} as const satisfies Record<string, MetricDefinition>
