/**
 * @since 0.1.0
 */

/**
 * A bulkhead: bounded concurrency and queue, with a typed rejection.
 *
 * @since 0.1.0
 */
export * as Bulkhead from "./Bulkhead.js"

/**
 * The Effect executor: `make`, `withCircuitBreaker`, and the breaker's state, metrics and streams.
 *
 * @since 0.1.0
 */
export * as CircuitBreaker from "./CircuitBreaker.js"

/**
 * The typed errors: `CircuitOpenError`, `CircuitTimeoutError`, `CircuitBreakerConfigError`, `CircuitStoreError`.
 *
 * @since 0.1.0
 */
export * as CircuitBreakerError from "./CircuitBreakerError.js"
/**
 * @since 0.1.0
 */
export {
  BulkheadRejectedError,
  CircuitBreakerConfigError,
  CircuitOpenError,
  CircuitStoreError,
  CircuitTimeoutError
} from "./CircuitBreakerError.js"
/**
 * Metrics models, the Effect metrics every breaker updates, and aggregation.
 *
 * @since 0.1.0
 */
export * as CircuitBreakerMetrics from "./CircuitBreakerMetrics.js"

/**
 * A registry of named breakers with aggregated metrics.
 *
 * @since 0.1.0
 */
export * as CircuitBreakerRegistry from "./CircuitBreakerRegistry.js"
/**
 * The pure state machine: `transition`, `decide`, `admit`.
 *
 * @since 0.1.0
 */
export * as CircuitBreakerState from "./CircuitBreakerState.js"
/**
 * The state store service and its in-memory layer.
 *
 * @since 0.1.0
 */
export * as CircuitBreakerStore from "./CircuitBreakerStore.js"
/**
 * The breakers alive in this process, held weakly, with their metric series: what monitors read.
 *
 * @since 0.1.0
 */
export * as LiveCircuits from "./LiveCircuits.js"
/**
 * The built-in retry backoffs as pure functions (the Promise API's retry delays).
 *
 * @since 0.1.0
 */
export * as RetryBackoff from "./RetryBackoff.js"
/**
 * Rules that trip a Closed circuit.
 *
 * @since 0.1.0
 */
export * as TripRule from "./TripRule.js"
