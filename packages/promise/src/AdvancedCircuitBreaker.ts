/**
 * The plain-Promise circuit breaker of the original specification:
 *
 * ```ts
 * const breaker = createAdvancedCircuitBreaker(() => externalApiCall(), { failureThreshold: 3 })
 * const result = await breaker.execute()
 * ```
 *
 * It runs the same pure policy as the Effect executor of `@circuit-breaker/core`, without
 * starting a fiber per call: a closed-circuit call is a synchronous state check, your
 * function, and a synchronous record of its outcome.
 *
 * @since 0.1.0
 */
import type { CircuitBreaker, CircuitBreakerMetrics, CircuitBreakerState } from "@circuit-breaker/core"
import * as internal from "./internal/create.js"
import type { ClusterTarget, RedisClient, StoreOptions } from "./SharedStoreOptions.js"

export type { ClusterTarget, RedisClient, StoreLogEntry, StoreOptions } from "./SharedStoreOptions.js"

/**
 * The circuit's state, in the names of the original specification.
 *
 * @since 0.1.0
 * @category models
 */
export type CircuitStateName = "CLOSED" | "OPEN" | "HALF_OPEN"

/**
 * With `passContext: true`, handed to your function after the arguments given to `execute`.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallContext {
  /**
   * Aborts when this attempt times out, when the caller's own signal aborts, or when the
   * breaker is disposed. Created on first access, so a function that never reads it pays
   * nothing for it.
   */
  readonly signal: AbortSignal
  /** 1 for the first attempt of a call, 2 for its first retry, and so on. */
  readonly attempt: number
}

/**
 * A duration option: milliseconds, or a string such as `"30 seconds"`, or an Effect `Duration`
 * (what the core's validation takes).
 *
 * @since 0.1.0
 * @category models
 */
export type DurationOption = CircuitBreaker.CircuitBreaker.DurationOption

/**
 * The options of `createAdvancedCircuitBreaker`: those of the core. A duration is a number
 * of milliseconds, or any duration the core takes (`"30 seconds"`, an Effect `Duration`). Defaults: failureThreshold 5, resetTimeout 30000,
 * timeout 10000, successThreshold 3, maxConcurrentTrials 1, trialPermitTtl timeout + 1000, retryBackoff "exponential",
 * maxRetries 3, metricsTracking true, distributedTracking false.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options
  extends Omit<
    CircuitBreaker.CircuitBreaker.Options,
    | "resetTimeout"
    | "timeout"
    | "trialPermitTtl"
    | "retryDelay"
    | "maxRetryDelay"
    | "slowCallDurationThreshold"
    | "openBackoff"
    | "maxWaitInHalfOpen"
    | "queueTimeout"
  > {
  /** Milliseconds the circuit stays Open before trial calls (default 30000). */
  readonly resetTimeout?: DurationOption | undefined
  /** Per-attempt timeout in milliseconds (default 10000); `false` disables it. */
  readonly timeout?: DurationOption | false | undefined
  /**
   * Milliseconds a Half-Open trial keeps its slot if it never reports back (an instance that
   * died mid-trial); then the slot is given back and its late outcome ignored. Default:
   * `timeout` + 1000 (a trial permit covers one attempt, which ends at `timeout`), or 60000
   * when the timeout is disabled; `false` disables expiry.
   */
  readonly trialPermitTtl?: DurationOption | false | undefined
  /** The first retry delay in milliseconds (default 100). */
  readonly retryDelay?: DurationOption | undefined
  /** The longest retry delay in milliseconds (default 10000). */
  readonly maxRetryDelay?: DurationOption | undefined
  /**
   * With `distributedTracking: true`, where the shared circuit lives: a `redis://` or
   * `rediss://` URL, ioredis options, an ioredis `Redis` or `Cluster` (which is never closed),
   * or `{ clusterNodes, clusterOptions }` for a Redis Cluster. Without it,
   * `REDIS_CLUSTER_NODES` (`host:port`, comma-separated), then `REDIS_URL`, from the
   * environment or from a `.env` file in the working directory.
   *
   * Breakers naming the same target (the same URL, the same options object or client, the same
   * nodes) and the same `store` settings share one store: one connection pair in the process,
   * closed when the last of them is disposed.
   */
  readonly redis?: string | RedisClient | ClusterTarget | { readonly [key: string]: unknown } | undefined
  /** With `distributedTracking: true`, how the shared store behaves. */
  readonly store?: StoreOptions | undefined
  /**
   * Where the breaker's log entries go (its changes of state; with `distributedTracking`, the
   * shared store's connection news): a function of a {@link LogEntry}, or `console` (anything
   * with `debug`, `info`, `warn`, `error`). Default: none, the breaker logs nothing.
   */
  readonly logger?: ((entry: LogEntry) => void) | ConsoleLike | undefined
  /**
   * Append a {@link CallContext} (`{ signal, attempt }`) after the caller's arguments (default
   * false: your function receives exactly the caller's arguments). Use it for `fetch`-style
   * work: only a function that passes `signal` on can be aborted when its attempt times out.
   */
  readonly passContext?: boolean | undefined
  /** Milliseconds: a call longer than this is slow, whether it succeeds or fails. */
  readonly slowCallDurationThreshold?: number | undefined
  /** Each consecutive open period after a failed trial is `multiplier` times longer, up to `maxResetTimeout` ms. */
  readonly openBackoff?: { readonly multiplier: number; readonly maxResetTimeout: number } | undefined
  /** Milliseconds a Half-Open circuit waits for its trials, from the first, before it opens again. */
  readonly maxWaitInHalfOpen?: number | undefined
  /** Milliseconds a call may wait for a bulkhead slot. */
  readonly queueTimeout?: number | undefined
  /**
   * Called when a call is rejected (open circuit, bulkhead) or fails for good (after its
   * retries, or a timeout): what it returns resolves the call, and if it throws the call
   * rejects with that error. Not called for a call its caller cancelled, nor for an error
   * `isFailure` excludes or ignores.
   */
  readonly fallback?: ((error: unknown, ...args: ReadonlyArray<any>) => unknown) | undefined
}

/**
 * One log entry of a breaker (the `logger` option). State changes are `info`; the shared
 * store's connection news `info` (reachable), `warn` (unreachable) or `debug`.
 *
 * @since 0.1.0
 * @category models
 */
export interface LogEntry {
  readonly level: "debug" | "info" | "warn" | "error"
  readonly message: string
  readonly circuit: string
  /** Milliseconds since the epoch. */
  readonly time: number
  /** Structured details, such as `from` and `to` of a change of state (never a secret). */
  readonly annotations: Readonly<Record<string, unknown>>
}

/**
 * A console, for the `logger` option: `console` itself, or any object with these methods.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsoleLike {
  debug(message: string, ...rest: ReadonlyArray<unknown>): void
  info(message: string, ...rest: ReadonlyArray<unknown>): void
  warn(message: string, ...rest: ReadonlyArray<unknown>): void
  error(message: string, ...rest: ReadonlyArray<unknown>): void
}

/**
 * The circuit's mode (see `setMode`).
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = CircuitBreakerState.Mode

/**
 * The breaker's counters, as `getMetrics()` returns them.
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitMetrics extends Omit<CircuitBreakerMetrics.CircuitMetrics, "state"> {
  readonly state: CircuitStateName
}

/**
 * @since 0.1.0
 * @category models
 */
export type FailureContext = CircuitBreakerMetrics.FailureContext

/**
 * A change of state, for alerts.
 *
 * @since 0.1.0
 * @category models
 */
export interface StateChangeEvent {
  readonly circuit: string
  readonly from: CircuitStateName
  readonly to: CircuitStateName
  /** When the new state began (milliseconds since the epoch). */
  readonly time: number
  /** The failure that caused the change, if one did. */
  readonly cause: unknown
  /**
   * Set when a manual operation made the change: `reset()` (announced every time, from
   * CLOSED to CLOSED included), `trip()`, `isolate()`, or the release of an isolation.
   */
  readonly reason?: "reset" | "trip" | "isolate" | "release" | undefined
}

/**
 * A handle on one isolation (`isolate()`): `release()` gives it back, and the last handle
 * released closes the circuit. Releasing twice does nothing more; `using` releases it too.
 *
 * @since 0.1.0
 * @category models
 */
export interface IsolationHandle extends Disposable {
  release(): void
}

/**
 * The outcome of one attempt, or a rejection.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallOutcomeEvent {
  readonly circuit: string
  /**
   * `"success"` also for an error `isFailure` excludes (the service answered; `error` holds
   * it); `"ignored"` for an error `isFailure` answers "ignore" for.
   */
  readonly outcome: "success" | "failure" | "timeout" | "ignored" | "rejected" | "retry" | "fallback"
  readonly attempt: number
  /** Milliseconds since the epoch. */
  readonly time: number
  /** The call's arguments, as given to `execute`. */
  readonly args: ReadonlyArray<unknown>
  /** The attempt's duration in milliseconds (success, failure, timeout, ignored). */
  readonly latency?: number
  /** The error (failure, timeout, ignored, and an excluded error's success). */
  readonly error?: unknown
}

/**
 * What a shared store holds for a circuit (`getDistributedState()`).
 *
 * @since 0.1.0
 * @category models
 */
export interface DistributedState {
  readonly circuit: string
  readonly state: CircuitStateName
  /**
   * The failures the circuit's trip rule counts while it is Closed, over every process sharing
   * it: the consecutive failures (`failureThreshold`), the failures in the sliding window (with
   * `failureRateThreshold` and the other window options), or the larger of the two when both
   * are configured. 0 when the circuit is not Closed.
   */
  readonly failureCount: number
  /** When the circuit last opened (milliseconds since the epoch), or null. */
  readonly openedAt: number | null
  /** When the state was last written (Redis time), or null if nothing is stored yet. */
  readonly updatedAt: number | null
  /** The instance that wrote the state last, or null. */
  readonly updatedBy: string | null
}

/**
 * The arguments of `execute` when it is not known whether `passContext` is set: those of
 * your function, without a trailing `CallContext`.
 *
 * @since 0.1.0
 * @category models
 */
export type ExecuteArgs<Args extends ReadonlyArray<unknown>> = Args extends readonly [...infer Init, CallContext]
  ? Init
  : Args

/**
 * @since 0.1.0
 * @category models
 */
export interface AdvancedCircuitBreaker<Args extends ReadonlyArray<unknown>, R> extends AsyncDisposable {
  readonly name: string
  /**
   * Calls the function with exactly `args` (and, with `passContext: true`, a `CallContext`)
   * through the circuit, as a plain function (`this` is undefined). Resolves with
   * its result; rejects with the function's own error (the same object), with
   * `CircuitOpenError` (the function was not called) or with `CircuitTimeoutError`.
   */
  execute(...args: Args): Promise<R>
  /** `execute` with per-call options: a `signal` that aborts this call. */
  executeWith(options: ExecuteOptions, ...args: Args): Promise<R>
  getMetrics(): CircuitMetrics
  /** The state now; `"HALF_OPEN"` as soon as resetTimeout has passed, with no call needed. */
  getState(): CircuitStateName
  /**
   * Back to CLOSED at once, whatever the state (an isolation ends, and its handles release
   * nothing after it); always announced to `onStateChange` with `reason: "reset"`.
   */
  reset(): Promise<void>
  /** Opens the circuit at once; it half-opens after `resetTimeout` as usual (an isolated circuit stays isolated). */
  trip(): Promise<void>
  /**
   * Holds the circuit OPEN until the returned handle is released (cockatiel's `isolate()`):
   * `getState()` reads `"OPEN"` meanwhile, and calls are rejected with `CircuitOpenError`.
   * Several isolations stack. With `distributedTracking` it holds in every process sharing
   * the circuit. Throws `CircuitBreakerDisposedError` after `dispose()`.
   */
  isolate(): IsolationHandle
  /**
   * Puts the circuit in `mode`: `"forcedOpen"` rejects every call (`getState()` reads OPEN);
   * `"forcedClosed"` and `"metricsOnly"` admit every call and never trip; `"disabled"` admits
   * every call and records nothing; `"normal"` goes back to the rules. Shared through Redis
   * with distributedTracking. Anything else rejects with a `CircuitBreakerConfigError`.
   */
  setMode(mode: Mode): Promise<void>
  /** The circuit's current mode. */
  getMode(): Mode
  /** What the shared store holds for this circuit; `null` when distributedTracking is off. */
  getDistributedState(): Promise<DistributedState | null>
  /** Calls `listener` on every change of state; returns the function that unsubscribes it. */
  onStateChange(listener: (event: StateChangeEvent) => void): () => void
  /** Calls `listener` on every attempt outcome and rejection; returns the unsubscribe function. */
  onCallOutcome(listener: (event: CallOutcomeEvent) => void): () => void
  /** Aborts the calls in flight, rejects later calls, and drops every listener. */
  dispose(): Promise<void>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ExecuteOptions {
  /** Aborting it aborts the call: its attempt's signal aborts and the call rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined
}

/**
 * Creates a breaker around `fn`. Throws at once, with a `CircuitBreakerConfigError`
 * naming the option or argument, if `fn` is not a function or an option is invalid.
 * With `passContext: true`, `fn`'s last parameter is the {@link CallContext}, and
 * `execute` takes the parameters before it.
 *
 * @example
 * ```ts
 * import { type CallContext, createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
 *
 * // With passContext, a timeout aborts the request through its signal.
 * const getUser = createAdvancedCircuitBreaker(
 *   (id: string, { signal }: CallContext) => fetch(`https://api.example.com/users/${id}`, { signal }),
 *   { name: "users", passContext: true, timeout: 2000 }
 * )
 * const response = await getUser.execute("42")
 * ```
 *
 * @example
 * ```ts
 * import { CircuitOpenError, createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
 *
 * const getUser = createAdvancedCircuitBreaker(
 *   (id: string) => fetch(`https://users.example/${id}`).then((response) => response.json()),
 *   { name: "users", failureThreshold: 3, resetTimeout: 30_000, timeout: 2_000 }
 * )
 * try {
 *   const user = await getUser.execute("42")
 * } catch (error) {
 *   if (error instanceof CircuitOpenError) console.log(`users are down; retry in ${error.retryAfter} ms`)
 * }
 * await getUser.dispose()
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const createAdvancedCircuitBreaker: {
  <Args extends ReadonlyArray<unknown>, R>(
    fn: (...args: [...Args, CallContext]) => R | PromiseLike<R>,
    options: Options & { readonly passContext: true }
  ): AdvancedCircuitBreaker<Args, Awaited<R>>
  <Args extends ReadonlyArray<unknown>, R>(
    fn: (...args: Args) => R | PromiseLike<R>,
    options?: Options & { readonly passContext?: false | undefined }
  ): AdvancedCircuitBreaker<Args, Awaited<R>>
  <Args extends ReadonlyArray<unknown>, R>(
    fn: (...args: Args) => R | PromiseLike<R>,
    options?: Options
  ): AdvancedCircuitBreaker<ExecuteArgs<Args>, Awaited<R>>
} = internal.create as never
