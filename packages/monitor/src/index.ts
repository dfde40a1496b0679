/**
 * @since 0.1.0
 */

/**
 * The monitor: Prometheus metrics, circuits as JSON, live events, a dashboard and manual
 * control, as a Layer, as routes, or from Promise code with `serve`.
 *
 * @since 0.1.0
 */
export * as CircuitMonitor from "./CircuitMonitor.js"
