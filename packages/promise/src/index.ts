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
  type ConsoleLike,
  createAdvancedCircuitBreaker,
  type DistributedState,
  type DurationOption,
  type ExecuteArgs,
  type ExecuteOptions,
  type FailureContext,
  type IsolationHandle,
  type LogEntry,
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
