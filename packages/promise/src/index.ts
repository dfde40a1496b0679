/**
 * @since 0.1.0
 */
export {
  type AdvancedCircuitBreaker,
  type CallContext,
  type CallOutcomeEvent,
  type CircuitMetrics,
  type CircuitStateName,
  type ClusterTarget,
  createAdvancedCircuitBreaker,
  type DistributedState,
  type ExecuteArgs,
  type ExecuteOptions,
  type FailureContext,
  type IsolationHandle,
  type Mode,
  type Options,
  type RedisClient,
  type StateChangeEvent,
  type StoreLogEntry,
  type StoreOptions
} from "./AdvancedCircuitBreaker.js"
export {
  type AggregatedMetrics,
  CircuitBreakerManager,
  createCircuitBreakerManager
} from "./CircuitBreakerManager.js"
export {
  BulkheadRejectedError,
  CircuitBreakerConfigError,
  CircuitBreakerDisposedError,
  CircuitOpenError,
  CircuitTimeoutError
} from "./errors.js"
