/**
 * The Effect executor: a breaker built with {@link make} runs effects through its
 * circuit, with retries as an Effect `Schedule` and per-attempt timeouts that interrupt
 * the timed-out work, and keeps the circuit's state in the `CircuitBreakerStore` service.
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "@circuit-breaker/core"
 *
 * const program = Effect.gen(function* () {
 *   const breaker = yield* CircuitBreaker.make({ name: "payments", failureThreshold: 3 })
 *   return yield* chargeCard.pipe(CircuitBreaker.withCircuitBreaker(breaker))
 * })
 * ```
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { Inspectable } from "effect/Inspectable"
import type { Pipeable } from "effect/Pipeable"
import type * as Schedule from "effect/Schedule"
import type * as Stream from "effect/Stream"
import type {
  BulkheadRejectedError,
  CircuitBreakerConfigError,
  CircuitOpenError,
  CircuitTimeoutError
} from "./CircuitBreakerError.js"
import type { CircuitMetrics, StateName } from "./CircuitBreakerMetrics.js"
import type { CircuitState, Mode, Policy } from "./CircuitBreakerState.js"
import * as internal from "./internal/circuitBreaker.js"
import type { PolicyOptions } from "./internal/policyOptions.js"
import type * as PolicyOptionsInput from "./PolicyOptions.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId as never

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A circuit breaker. Build one with {@link make}. It is `Pipeable`, and `Inspectable`:
 * logging it, `JSON.stringify` or `toString` show its name, the last state it saw and its
 * counters ({@link CircuitBreaker.Json}), never its internals.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@circuit-breaker/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const breaker = yield* CircuitBreaker.make({ name: "payments" })
 *   yield* breaker.execute(Effect.succeed("paid"))
 *   console.log(breaker.toJSON()) // { _id: "CircuitBreaker", name: "payments", state: "Closed", metrics: {...} }
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreaker extends Pipeable, Inspectable {
  readonly [TypeId]: TypeId
  /** The circuit's name: its key in the store and the `circuit` tag of its metrics. */
  readonly name: string
  /** The validated options, defaults filled in. */
  readonly options: CircuitBreaker.Resolved
  /** The pure policy the breaker applies. */
  readonly policy: Policy<any>
  /**
   * Runs `effect` through the circuit. Fails with `CircuitOpenError` (without running the
   * effect) when the circuit rejects the call, with `BulkheadRejectedError` (without running
   * it) when the bulkhead (`maxConcurrent`) turns it away, with `CircuitTimeoutError` when the last
   * attempt timed out, or with the effect's own last error.
   */
  execute<A, E, R>(
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError | BulkheadRejectedError, R>
  /** The current state, with the passage of time applied (Open becomes Half-Open once `resetTimeout` has passed). */
  readonly state: Effect.Effect<CircuitState<unknown>>
  /** A snapshot of the breaker's counters. */
  readonly metrics: Effect.Effect<CircuitMetrics>
  /**
   * Closes the circuit at once, whatever its state (an isolation ends too, and its handles
   * release nothing after it). Always publishes a change with `reason: "reset"` on
   * `changes`, from Closed to Closed included.
   */
  readonly reset: Effect.Effect<void>
  /** Opens the circuit at once; it half-opens after `resetTimeout` as usual (an isolated circuit stays isolated). */
  readonly trip: Effect.Effect<void>
  /**
   * Holds the circuit Open until the returned handle is released (cockatiel's `isolate()`);
   * several isolations stack, and the circuit closes when the last handle is released. In a
   * shared store the isolation holds for every instance. Scoped form:
   * `Effect.acquireRelease(breaker.isolate, (handle) => handle.release)`.
   */
  readonly isolate: Effect.Effect<Isolation>
  /**
   * Puts the circuit in `mode` (`"forcedOpen"` rejects every call; `"forcedClosed"` and
   * `"metricsOnly"` admit every call and never trip; `"disabled"` admits every call and records
   * nothing; `"normal"` goes back to the rules). Part of the circuit's state: a shared store
   * shares it. Anything but a mode fails with a `CircuitBreakerConfigError` naming `mode`.
   */
  setMode(mode: Mode): Effect.Effect<void, CircuitBreakerConfigError>
  /** The circuit's current mode. */
  readonly mode: Effect.Effect<Mode>
  /** Every change of state, from the moment of subscription. */
  readonly changes: Stream.Stream<StateChange>
  /** Every call outcome, from the moment of subscription (nothing is published while nobody listens). */
  readonly events: Stream.Stream<CallEvent>
}

/**
 * @since 0.1.0
 */
export declare namespace CircuitBreaker {
  /**
   * What `toJSON()` (and so logging a breaker) shows.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Json {
    readonly _id: "CircuitBreaker"
    readonly name: string
    /** The last state this breaker saw (a state read or a call brings it up to date). */
    readonly state: StateName
    readonly metrics: CircuitMetrics
  }

  /**
   * A duration: milliseconds, an Effect `Duration`, or a string such as `"10 seconds"`.
   *
   * @since 0.1.0
   * @category models
   */
  export type DurationOption = number | Duration.DurationInput

  /**
   * Classifies an error: `true` a failure, `false` a success (the service answered),
   * `"ignore"` neither. Receives the error, then the call's arguments (Promise API).
   *
   * @since 0.1.0
   * @category models
   */
  export type FailurePredicate = (error: any, ...args: ReadonlyArray<any>) => boolean | "ignore"

  /**
   * The options of {@link make}. Every one is optional; see the README for the table of defaults.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Options extends PolicyOptionsInput.PolicyOptions {
    /**
     * The circuit's name: breakers with the same name share one circuit in a store. Required
     * with `distributedTracking`; otherwise a distinct name is generated (`circuit-1`, ...).
     */
    readonly name?: string | undefined
    /** The service reported in failure contexts (default: the name). */
    readonly serviceId?: string | undefined
    /** Consecutive failures that open the circuit (default 5). */
    readonly failureThreshold?: number | undefined
    /** Time Open before trial calls are let through (default 30 s). */
    readonly resetTimeout?: DurationOption | undefined
    /** Per-attempt timeout; the attempt is interrupted (default 10 s; `false` disables it). */
    readonly timeout?: DurationOption | false | undefined
    /** Consecutive trial successes that close a Half-Open circuit (default 3). */
    readonly successThreshold?: number | undefined
    /**
     * The most Half-Open trials in flight at once, across every instance sharing the circuit
     * (default 1: one probe at a time, as opossum, cockatiel and Polly send). Capped by
     * `successThreshold`.
     */
    readonly maxConcurrentTrials?: number | undefined
    /**
     * How long a Half-Open trial keeps its slot if it never reports back (its process died while
     * sharing the circuit through a store); then the slots are given back and its late outcome
     * is ignored. Default: `timeout` + 1 s (11 s with the default timeout), or 60 s when the
     * timeout is disabled. A trial holds its permit for one attempt only (each retry is admitted
     * again, and a failed trial reopens the circuit), and an attempt ends at `timeout`: the
     * second covers the interruption and the write of the outcome. `false` disables expiry.
     */
    readonly trialPermitTtl?: DurationOption | false | undefined
    /** Backoff between retries (default `"exponential"`). */
    readonly retryBackoff?: "exponential" | "linear" | undefined
    /** Retries after the first attempt (default 3; 0 disables retrying). */
    readonly maxRetries?: number | undefined
    /** The first retry delay (default 100 ms). */
    readonly retryDelay?: DurationOption | undefined
    /** The longest retry delay (default 10 s). */
    readonly maxRetryDelay?: DurationOption | undefined
    /** Randomise each retry delay by ±20 % so that callers do not retry in step (default true). */
    readonly jitter?: boolean | undefined
    /** A Schedule fed with each attempt's error, replacing retryBackoff / maxRetries / retryDelay / jitter. */
    readonly retrySchedule?: Schedule.Schedule<unknown, any> | undefined
    /**
     * Which errors count as failures of the service (default: all). `false`: the call fails
     * with the error, without retry, and counts as a success (metrics and events say so);
     * `"ignore"`: it fails without retry and counts as neither (the tally stays as it is).
     * Any other answer fails the call with a `CircuitBreakerConfigError` naming `isFailure`.
     */
    readonly isFailure?: FailurePredicate | undefined
    /** Count calls, latency and failures (default true). */
    readonly metricsTracking?: boolean | undefined
    /** Require a shared store such as Redis (default false). */
    readonly distributedTracking?: boolean | undefined
    /** How many recent failures to keep in `lastFailures` (default 10). */
    readonly failureHistorySize?: number | undefined
  }

  /**
   * The options after validation, with defaults filled in.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Resolved {
    readonly name: string
    readonly serviceId: string
    readonly failureThreshold: number
    readonly resetTimeout: Duration.Duration
    /** `Duration.infinity` when disabled. */
    readonly timeout: Duration.Duration
    readonly successThreshold: number
    readonly maxConcurrentTrials: number
    /** `Duration.infinity` when disabled (permits never expire). */
    readonly trialPermitTtl: Duration.Duration
    readonly retryBackoff: "exponential" | "linear"
    readonly maxRetries: number
    readonly retryDelay: Duration.Duration
    readonly maxRetryDelay: Duration.Duration
    readonly jitter: boolean
    readonly retrySchedule: Schedule.Schedule<unknown, unknown> | undefined
    readonly isFailure: FailurePredicate | undefined
    readonly metricsTracking: boolean
    readonly distributedTracking: boolean
    readonly failureHistorySize: number
    /** The sliding window, slow calls, open duration, bulkhead, result classification and fallback. */
    readonly policies: PolicyOptions
  }
}

/**
 * A change of the circuit's state, for alerts.
 *
 * @since 0.1.0
 * @category models
 */
export interface StateChange {
  readonly circuit: string
  readonly from: StateName
  readonly to: StateName
  /** When the new state began (milliseconds, from Effect's Clock). */
  readonly at: number
  /** The failure that caused the change, if a failure did. */
  readonly cause: unknown
  /** Set when a manual operation made the change (a reset is announced even when the circuit was Closed). */
  readonly reason: "reset" | "trip" | "isolate" | "release" | undefined
}

/**
 * A handle on one isolation of a circuit (`isolate`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Isolation {
  /** The generation of the isolated state the handle belongs to. */
  readonly generation: number
  /** Gives the handle back; the last one closes the circuit. Releasing twice does nothing more. */
  readonly release: Effect.Effect<void>
}

/**
 * The outcome of one attempt (or a rejection), for logging and alerting.
 *
 * @since 0.1.0
 * @category models
 */
export type CallEvent =
  | {
      readonly _tag: "Success"
      readonly circuit: string
      readonly attempt: number
      /** The attempt's duration in milliseconds. */
      readonly latency: number
    }
  | {
      readonly _tag: "Failure"
      readonly circuit: string
      readonly attempt: number
      readonly latency: number
      readonly error: unknown
    }
  | {
      readonly _tag: "Timeout"
      readonly circuit: string
      readonly attempt: number
      readonly latency: number
      readonly error: CircuitTimeoutError
    }
  | {
      /** An error `isFailure` answered "ignore" for: neither a success nor a failure. */
      readonly _tag: "Ignored"
      readonly circuit: string
      readonly attempt: number
      readonly latency: number
      readonly error: unknown
    }
  | { readonly _tag: "Rejected"; readonly circuit: string; readonly attempt: number }
  | { readonly _tag: "Retry"; readonly circuit: string; readonly attempt: number }

/**
 * Builds a breaker from options, validated first: an invalid option fails with a
 * `CircuitBreakerConfigError` naming it, and nothing is created. The state lives in the
 * `CircuitBreakerStore` of the context when there is one, else in a private in-memory
 * store.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@circuit-breaker/core"
 * import { Effect } from "effect"
 *
 * const breaker = CircuitBreaker.make({
 *   name: "payments",
 *   failureThreshold: 5,
 *   resetTimeout: "30 seconds",
 *   timeout: "2 seconds",
 *   maxRetries: 2
 * })
 * // Effect<CircuitBreaker, CircuitBreakerConfigError>: a bad option fails here, naming it
 * const program = Effect.flatMap(breaker, (b) => b.execute(Effect.succeed("paid")))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: CircuitBreaker.Options) => Effect.Effect<CircuitBreaker, CircuitBreakerConfigError> =
  internal.make

/**
 * Runs an effect through a breaker; works in `pipe` and data-first.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@circuit-breaker/core"
 * import { Effect } from "effect"
 *
 * const charge = Effect.tryPromise((signal) => fetch("https://payments.example/charge", { method: "POST", signal }))
 *
 * const program = Effect.gen(function* () {
 *   const breaker = yield* CircuitBreaker.make({ name: "payments" })
 *   const viaPipe = yield* charge.pipe(CircuitBreaker.withCircuitBreaker(breaker)) // data-last
 *   const direct = yield* CircuitBreaker.withCircuitBreaker(charge, breaker) // data-first
 *   return [viaPipe, direct]
 * }).pipe(Effect.catchTag("CircuitOpenError", (e) => Effect.fail(`payments are down; retry in ${e.retryAfter}`)))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withCircuitBreaker: {
  (
    breaker: CircuitBreaker
  ): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError | BulkheadRejectedError, R>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    breaker: CircuitBreaker
  ): Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError | BulkheadRejectedError, R>
} = internal.withCircuitBreaker

/**
 * @since 0.1.0
 * @category refinements
 */
export const isCircuitBreaker: (u: unknown) => u is CircuitBreaker = internal.isCircuitBreaker
