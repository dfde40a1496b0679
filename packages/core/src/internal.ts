/**
 * The parts of the core that the sibling packages (`@circuit-breaker/promise`,
 * `@circuit-breaker/redis`) build on: not meant for applications, and free to change
 * between minor versions. Applications use the main entry, `@circuit-breaker/core`.
 *
 * @since 0.1.0
 */

/**
 * Every decision about one call, for an executor: classify an outcome, whether it is final,
 * the metric update and the event it makes.
 *
 * @since 0.1.0
 */
export * as CallPolicy from "./CallPolicy.js"
/**
 * Option validation, defaults, and the policy and retry Schedule options describe.
 *
 * @since 0.1.0
 */
export * as CircuitBreakerOptions from "./CircuitBreakerOptions.js"
/**
 * @since 0.1.0
 */
export { clockNow } from "./Clock.js"
/**
 * Many timeouts of one length served by one timer, for the executors.
 *
 * @since 0.1.0
 */
export * as Deadlines from "./Deadlines.js"
/**
 * @since 0.1.0
 */
export { countOutcome, type LiveMetrics, liveMetrics, makeRecorder, type Recorder } from "./MetricsRecorder.js"
