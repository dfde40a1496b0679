/**
 * The typed errors of the circuit breaker. Each has its own `_tag`, so `Effect.catchTag`
 * handles them one by one, and each is a real `Error` for Promise callers.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import { hasProperty } from "effect/Predicate"
import { TaggedError } from "./internal/taggedError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@circuit-breaker/core/CircuitBreakerError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Whether a value is one of this library's errors.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isCircuitBreakerError = (u: unknown): u is CircuitBreakerError => hasProperty(u, TypeId)

/**
 * Whether a value is a `CircuitOpenError` of either API (the Promise API's has `retryAfter`
 * in milliseconds, the Effect API's a `Duration`).
 *
 * @since 0.1.0
 * @category refinements
 */
export const isCircuitOpenError = (u: unknown): u is { readonly _tag: "CircuitOpenError"; readonly circuit: string } =>
  hasProperty(u, TypeId) && (u as { readonly _tag?: unknown })._tag === "CircuitOpenError"

/**
 * Whether a value is a `CircuitTimeoutError` of either API.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isCircuitTimeoutError = (
  u: unknown
): u is { readonly _tag: "CircuitTimeoutError"; readonly circuit: string; readonly attempt: number } =>
  hasProperty(u, TypeId) && (u as { readonly _tag?: unknown })._tag === "CircuitTimeoutError"

/**
 * The circuit is open (or Half-Open with every trial slot taken): the protected effect
 * was not run. `retryAfter` says when a call may be admitted again: a `Duration` of whole
 * milliseconds (the Promise API's error of the same family has a number of milliseconds).
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitOpenError extends TaggedError("CircuitOpenError")<{
  readonly circuit: string
  readonly retryAfter: Duration.Duration
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `Circuit "${this.circuit}" is open; retry after ${Duration.toMillis(this.retryAfter)} ms`
  }
}

/**
 * The last attempt ran longer than the breaker's `timeout` and was interrupted.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitTimeoutError extends TaggedError("CircuitTimeoutError")<{
  readonly circuit: string
  readonly timeout: Duration.Duration
  readonly attempt: number
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `Circuit "${this.circuit}": attempt ${this.attempt} timed out after ${Duration.format(this.timeout)}`
  }
}

/**
 * An option or argument is invalid. `option` names it, `value` holds what was given.
 * Raised when a breaker is built, before anything is created.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitBreakerConfigError extends TaggedError("CircuitBreakerConfigError")<{
  readonly option: string
  readonly value: unknown
  readonly reason: string
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `Invalid circuit breaker option "${this.option}": ${this.reason} (got ${describeValue(this.value)})`
  }
}

/**
 * The state store failed (unreachable, too slow, or returned data it could not decode).
 * Never counted as a failure of the protected service.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitStoreError extends TaggedError("CircuitStoreError")<{
  readonly reason: "Unavailable" | "Timeout" | "Conflict" | "Decode"
  readonly detail: string
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `Circuit store error (${this.reason}): ${this.detail}`
  }
}

/**
 * The bulkhead turned the call away: `maxConcurrent` calls were running and `maxQueue`
 * waiting (`reason: "Full"`), or the call waited in the queue longer than `queueTimeout`
 * (`reason: "QueueTimeout"`). The protected function was not called; never counted as a
 * failure of the service, and never opens the circuit.
 *
 * @since 0.1.0
 * @category errors
 */
export class BulkheadRejectedError extends TaggedError("BulkheadRejectedError")<{
  readonly circuit: string
  readonly reason: "Full" | "QueueTimeout"
  readonly maxConcurrent: number
  readonly maxQueue: number
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return this.reason === "Full"
      ? `Circuit "${this.circuit}": bulkhead full (${this.maxConcurrent} running, ${this.maxQueue} queued)`
      : `Circuit "${this.circuit}": waited longer than queueTimeout in the bulkhead queue`
  }
}

/**
 * @since 0.1.0
 * @category errors
 */
export type CircuitBreakerError =
  | CircuitOpenError
  | CircuitTimeoutError
  | CircuitBreakerConfigError
  | CircuitStoreError
  | BulkheadRejectedError

/**
 * A short, safe rendering of any value for error messages: never throws, whatever the
 * value (circular objects, symbols, bigints, objects with a throwing `toString`).
 *
 * @since 0.1.0
 * @category utils
 */
export const describeValue = (value: unknown): string => {
  try {
    switch (typeof value) {
      case "string":
        return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)
      case "number":
      case "boolean":
      case "undefined":
        return String(value)
      case "bigint":
        return `${value}n`
      case "symbol":
        return value.toString()
      case "function":
        return `function ${value.name || "(anonymous)"}`
      default: {
        if (value === null) return "null"
        if (Duration.isDuration(value)) return `Duration(${Duration.format(value)})`
        if (Array.isArray(value)) return `array of ${value.length}`
        const name = (value as object).constructor?.name
        return name && name !== "Object" ? `${name} object` : "object"
      }
    }
  } catch {
    return "unprintable value"
  }
}
