/**
 * The errors a Promise caller may see, besides the service's own errors (which come
 * through unchanged, the very same object). Each is an `Error` with a stable `name` and
 * `_tag`.
 *
 * @since 0.1.0
 */
import { CircuitBreakerError } from "@circuit-breaker/core"

export { BulkheadRejectedError, CircuitBreakerConfigError } from "@circuit-breaker/core"

/** The core's brand: every error here passes `CircuitBreakerError.isCircuitBreakerError` and the core's guards. */
const brand = { value: CircuitBreakerError.TypeId, enumerable: false }

/**
 * The circuit rejected the call: `fn` was not called. `retryAfter` is in whole milliseconds
 * (the Effect API's error of the same family has a `Duration`); it passes the core's
 * `CircuitBreakerError.isCircuitBreakerError` and `isCircuitOpenError`.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitOpenError extends Error {
  /** @since 0.1.0 */
  declare readonly _tag: "CircuitOpenError"
  /** The circuit's name. */
  declare readonly circuit: string
  /** Milliseconds after which the circuit may admit a call again. */
  declare readonly retryAfter: number
  constructor(circuit: string, retryAfter: number) {
    super(`Circuit "${circuit}" is open; retry after ${retryAfter} ms`)
    // Plain assignments, not class fields: a rejection is made on the hot path of a failing dependency.
    ;(this as { circuit: string }).circuit = circuit
    ;(this as { retryAfter: number }).retryAfter = retryAfter
  }
}
Object.defineProperties(CircuitOpenError.prototype, {
  _tag: { value: "CircuitOpenError", enumerable: true },
  name: { value: "CircuitOpenError" },
  [CircuitBreakerError.TypeId]: brand
})

/**
 * The call's last attempt ran past `timeout`; its `AbortSignal` was aborted.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitTimeoutError extends Error {
  /** @since 0.1.0 */
  readonly _tag = "CircuitTimeoutError" as const
  /** @since 0.1.0 */
  override readonly name = "CircuitTimeoutError"
  constructor(
    readonly circuit: string,
    /** The timeout, in milliseconds. */
    readonly timeout: number,
    /** Which attempt timed out: 1 for the first. */
    readonly attempt: number
  ) {
    super(`Circuit "${circuit}": attempt ${attempt} timed out after ${timeout} ms`)
  }
}
Object.defineProperty(CircuitTimeoutError.prototype, CircuitBreakerError.TypeId, brand)

/**
 * The breaker was disposed: calls made after `dispose()` (or cut short by it) fail with this.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitBreakerDisposedError extends Error {
  /** @since 0.1.0 */
  readonly _tag = "CircuitBreakerDisposedError" as const
  /** @since 0.1.0 */
  override readonly name = "CircuitBreakerDisposedError"
  constructor(readonly circuit: string) {
    super(`Circuit breaker "${circuit}" has been disposed`)
  }
}
Object.defineProperty(CircuitBreakerDisposedError.prototype, CircuitBreakerError.TypeId, brand)
