/**
 * @since 0.1.0
 */

/**
 * The Redis store: `make`, `layer`, `layerConfig`, `layerFromClient`.
 *
 * @since 0.1.0
 */
export * as RedisCircuitBreakerStore from "./RedisCircuitBreakerStore.js"
