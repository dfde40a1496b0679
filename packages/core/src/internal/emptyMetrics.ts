import type { CircuitMetrics, StateName } from "../CircuitBreakerMetrics.js"

/**
 * The metrics of a circuit that counts nothing (`metricsTracking: false`). Apart from
 * `CircuitBreakerMetrics`, so that the Promise API reads it without loading `effect/Metric`.
 *
 * @internal
 */
export const empty = (name: string, state: StateName): CircuitMetrics => ({
  name,
  state,
  totalCalls: 0,
  successCalls: 0,
  failureCalls: 0,
  rejectedCalls: 0,
  timeoutCalls: 0,
  ignoredCalls: 0,
  retries: 0,
  failureRate: -1,
  slowCallRate: -1,
  slowCalls: 0,
  bulkheadRejections: 0,
  fallbackCalls: 0,
  mode: "normal",
  latency: { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 },
  lastFailures: []
})
