import {
  type CircuitBreaker,
  CircuitBreakerConfigError,
  CircuitBreakerError,
  CircuitBreakerMetrics,
  CircuitBreakerOptions,
  CircuitBreakerState,
  CircuitBreakerStore
} from "@circuit-breaker/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import type * as API from "../AdvancedCircuitBreaker.js"
import { CircuitBreakerDisposedError, CircuitOpenError, CircuitTimeoutError } from "../errors.js"
import { type Deadline, Deadlines } from "./deadlines.js"

type CircuitState = CircuitBreakerState.CircuitState<number>

const stateNames = { Closed: "CLOSED", Open: "OPEN", HalfOpen: "HALF_OPEN" } as const satisfies Record<
  CircuitState["_tag"],
  API.CircuitStateName
>

/** Milliseconds since the epoch, from the monotonic clock (latencies need sub-millisecond precision). */
const now = (): number => performance.timeOrigin + performance.now()

const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  u !== null && (typeof u === "object" || typeof u === "function") && typeof (u as any).then === "function"

/** Calls each listener; one that throws is reported as a process warning and never breaks the call. */
const notify = <E>(listeners: Set<(event: E) => void> | undefined, event: E): void => {
  if (listeners === undefined) return
  for (const listener of listeners) {
    try {
      listener(event)
    } catch (error) {
      process.emitWarning(`circuit breaker listener threw ${describeThrown(error)}`, {
        code: "CIRCUIT_BREAKER_LISTENER"
      })
    }
  }
}

/** Never throws, whatever was thrown (a null-prototype object, a throwing `toString`). */
const describeThrown = (error: unknown): string => {
  try {
    if (error instanceof Error) return `${error.name}: ${error.message}`
  } catch {
    // fall through
  }
  return CircuitBreakerError.describeValue(error)
}

/** A sleep that an abort of any of `signals` cuts short (rejecting with the signal's reason). */
const sleep = (millis: number, signals: ReadonlyArray<AbortSignal | undefined>): Promise<void> =>
  new Promise((resolve, reject) => {
    const onAbort = (event: Event) => {
      clearTimeout(timer)
      cleanup()
      reject((event.target as AbortSignal).reason)
    }
    const cleanup = () => {
      for (const signal of signals) signal?.removeEventListener("abort", onAbort)
    }
    const timer = setTimeout(() => {
      cleanup()
      resolve()
    }, millis)
    for (const signal of signals) {
      if (signal?.aborted) {
        clearTimeout(timer)
        cleanup()
        reject(signal.reason)
        return
      }
      signal?.addEventListener("abort", onAbort, { once: true })
    }
  })

/** The context of one attempt; its signal is built only if the function reads it. */
class AttemptContext implements API.CallContext {
  private controller: AbortController | undefined
  private combined: AbortSignal | undefined
  private abortedWith: { readonly reason: unknown } | undefined
  timedOut = false

  constructor(
    readonly attempt: number,
    private readonly callerSignal: AbortSignal | undefined,
    private readonly disposeSignal: AbortSignal
  ) {}

  get signal(): AbortSignal {
    if (this.combined === undefined) {
      this.controller = new AbortController()
      // Read after the attempt ended (a request started late): the signal is aborted already.
      if (this.abortedWith !== undefined) this.controller.abort(this.abortedWith.reason)
      const signals = [this.controller.signal, this.disposeSignal]
      if (this.callerSignal !== undefined) signals.push(this.callerSignal)
      this.combined = AbortSignal.any(signals)
    }
    return this.combined
  }

  abort(reason: unknown): void {
    this.abortedWith ??= { reason }
    this.controller?.abort(reason)
  }
}

const NoError = Symbol("NoError")

class Breaker<Args extends ReadonlyArray<unknown>, R> implements API.AdvancedCircuitBreaker<Args, R> {
  readonly name: string
  private readonly store = CircuitBreakerStore.makeMemory()
  private readonly policy: CircuitBreakerState.Policy<number>
  private readonly initialState: CircuitState
  private readonly recorder: CircuitBreakerMetrics.Recorder | undefined
  private readonly schedule: Schedule.Schedule<unknown, unknown> | undefined
  private readonly timeoutMillis: number
  private readonly isFailure: (error: unknown) => boolean
  private readonly disposal = new AbortController()
  private readonly deadlines = new Deadlines(now)
  private stateListeners: Set<(event: API.StateChangeEvent) => void> | undefined
  private outcomeListeners: Set<(event: API.CallOutcomeEvent) => void> | undefined

  constructor(
    private readonly fn: (...args: ReadonlyArray<unknown>) => unknown,
    options: CircuitBreaker.CircuitBreaker.Resolved
  ) {
    this.name = options.name
    this.policy = CircuitBreakerOptions.policyOf(options)
    this.initialState = CircuitBreakerState.initial(this.policy, now())
    this.recorder = options.metricsTracking
      ? CircuitBreakerMetrics.makeRecorder(options.name, options.serviceId, options.failureHistorySize)
      : undefined
    this.schedule = CircuitBreakerOptions.retrySchedule(options)
    this.timeoutMillis = Duration.isFinite(options.timeout) ? Duration.toMillis(options.timeout) : 0
    this.isFailure = options.isFailure ?? (() => true)
  }

  // --- state ---------------------------------------------------------------------

  /** Applies a pure transition to the stored state, synchronously, and announces a change of state. */
  private apply<A>(
    f: (state: CircuitState) => readonly [A, CircuitState],
    cause?: unknown
  ): readonly [A, CircuitState] {
    let result!: readonly [A, CircuitState]
    let previous!: CircuitState
    this.store.unsafeModify!(this.name, this.initialState, (current) => {
      previous = current as CircuitState
      result = f(previous)
      return result
    })
    const next = result[1]
    if (next._tag !== previous._tag) {
      this.recorder?.state(next._tag)
      notify(this.stateListeners, {
        circuit: this.name,
        from: stateNames[previous._tag],
        to: stateNames[next._tag],
        time: next.since,
        cause
      })
    }
    return result
  }

  private record(
    tag: "Succeeded" | "Failed" | "TimedOut" | "Interrupted",
    ticket: CircuitBreakerState.Ticket,
    time: number,
    cause?: unknown
  ): CircuitState {
    const event: CircuitBreakerState.CircuitEvent = { _tag: tag, now: time, ...ticket }
    return this.apply((s) => [undefined, CircuitBreakerState.transition(this.policy, s, event)], cause)[1]
  }

  private emit(outcome: API.CallOutcomeEvent["outcome"], attempt: number, time: number, error?: unknown): void {
    if (this.outcomeListeners === undefined || this.outcomeListeners.size === 0) return
    notify(
      this.outcomeListeners,
      error === undefined
        ? { circuit: this.name, outcome, attempt, time }
        : { circuit: this.name, outcome, attempt, time, error }
    )
  }

  getState(): API.CircuitStateName {
    const t = now()
    return stateNames[this.apply((s) => [undefined, CircuitBreakerState.advance(this.policy, s, t)])[1]._tag]
  }

  getMetrics(): API.CircuitMetrics {
    const state = this.getState()
    const tag = state === "CLOSED" ? "Closed" : state === "OPEN" ? "Open" : "HalfOpen"
    const snapshot = this.recorder?.snapshot(tag) ?? CircuitBreakerMetrics.empty(this.name, tag)
    return { ...snapshot, state }
  }

  reset(): Promise<void> {
    const t = now()
    this.apply((s) => [undefined, CircuitBreakerState.transition(this.policy, s, { _tag: "Reset", now: t })])
    return Promise.resolve()
  }

  getDistributedState(): Promise<API.DistributedState | null> {
    return Promise.resolve(null)
  }

  onStateChange(listener: (event: API.StateChangeEvent) => void): () => void {
    return this.subscribe(listener, (this.stateListeners ??= new Set()))
  }

  onCallOutcome(listener: (event: API.CallOutcomeEvent) => void): () => void {
    return this.subscribe(listener, (this.outcomeListeners ??= new Set()))
  }

  private subscribe<E>(listener: (event: E) => void, listeners: Set<(event: E) => void>): () => void {
    if (typeof listener !== "function") {
      throw new CircuitBreakerConfigError({ option: "listener", value: listener, reason: "must be a function" })
    }
    if (this.disposal.signal.aborted) return () => {}
    listeners.add(listener)
    return () => void listeners.delete(listener)
  }

  dispose(): Promise<void> {
    if (!this.disposal.signal.aborted) {
      this.disposal.abort(new CircuitBreakerDisposedError(this.name))
      // Calls in flight end now, with the disposal error (their functions' signals abort too).
      this.deadlines.expireAll()
      this.stateListeners = undefined
      this.outcomeListeners = undefined
    }
    return Promise.resolve()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose()
  }

  // --- execution -----------------------------------------------------------------

  execute(...args: API.ExecuteArgs<Args>): Promise<R> {
    return this.call(args, undefined)
  }

  executeWith(options: API.ExecuteOptions, ...args: API.ExecuteArgs<Args>): Promise<R> {
    const signal = options?.signal
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      return Promise.reject(
        new CircuitBreakerConfigError({ option: "signal", value: signal, reason: "must be an AbortSignal" })
      )
    }
    return this.call(args, signal)
  }

  /**
   * One call: admission, attempts and retries. The closed-circuit path is synchronous up
   * to the function's own promise: no `async` frame, no per-call timer (see `Deadlines`).
   */
  private call(args: ReadonlyArray<unknown>, signal: AbortSignal | undefined): Promise<R> {
    if (this.disposal.signal.aborted) return Promise.reject(this.disposal.signal.reason)
    if (signal?.aborted) return Promise.reject(signal.reason)
    const call: Call = { args, signal, started: now(), scheduleState: this.schedule?.initial }
    return this.attempt(call, 1, NoError)
  }

  private attempt(call: Call, attempt: number, lastError: unknown): Promise<R> {
    const admittedAt = attempt === 1 ? call.started : now()
    const [decision] = this.apply((s) => CircuitBreakerState.admit(this.policy, s, admittedAt))
    if (decision._tag === "Reject") {
      if (lastError !== NoError) {
        // The circuit opened while this call was retrying: it ends with the service's last error.
        this.recorder?.failure(admittedAt - call.started, lastError instanceof CircuitTimeoutError)
        return Promise.reject(lastError)
      }
      this.recorder?.rejected()
      this.emit("rejected", attempt, admittedAt)
      return Promise.reject(openError(this.name, decision.retryAfter))
    }
    const ticket: CircuitBreakerState.Ticket = {
      generation: decision.generation,
      trial: decision._tag === "AdmitTrial"
    }
    const ctx = new AttemptContext(attempt, call.signal, this.disposal.signal)
    let result: unknown
    try {
      result = this.fn(...call.args, ctx)
    } catch (error) {
      return this.failed(call, ticket, ctx, error)
    }
    if (!isThenable(result)) return Promise.resolve(this.succeeded(call, ticket, attempt, result))
    return new Promise<R>((resolve, reject) => {
      let settled = false
      let deadline: Deadline | undefined
      const signal = call.signal
      const settle = () => {
        settled = true
        if (deadline !== undefined) this.deadlines.remove(deadline)
        signal?.removeEventListener("abort", onAbort)
      }
      const onAbort = () => {
        if (settled) return
        settle()
        ctx.abort(signal!.reason)
        this.failed(call, ticket, ctx, signal!.reason).then(resolve, reject)
      }
      deadline = this.deadlines.add(this.timeoutMillis > 0 ? admittedAt + this.timeoutMillis : Infinity, () => {
        if (settled) return
        if (this.disposal.signal.aborted) {
          settle()
          this.failed(call, ticket, ctx, this.disposal.signal.reason).then(resolve, reject)
          return
        }
        const error = new CircuitTimeoutError(this.name, this.timeoutMillis, attempt)
        ctx.timedOut = true
        settle()
        ctx.abort(error)
        this.failed(call, ticket, ctx, error).then(resolve, reject)
      })
      signal?.addEventListener("abort", onAbort, { once: true })
      ;(result as PromiseLike<unknown>).then(
        (value) => {
          if (settled) return
          settle()
          resolve(this.succeeded(call, ticket, attempt, value))
        },
        (error) => {
          if (settled) return
          settle()
          this.failed(call, ticket, ctx, error).then(resolve, reject)
        }
      )
    })
  }

  private succeeded(call: Call, ticket: CircuitBreakerState.Ticket, attempt: number, value: unknown): R {
    const end = now()
    this.record("Succeeded", ticket, end)
    this.recorder?.success(end - call.started)
    this.emit("success", attempt, end)
    return value as R
  }

  /** Records a failed attempt, then retries after the Schedule's delay or rejects. */
  private failed(call: Call, ticket: CircuitBreakerState.Ticket, ctx: AttemptContext, error: unknown): Promise<R> {
    const end = now()
    const attempt = ctx.attempt
    if ((call.signal?.aborted && error === call.signal.reason) || this.disposal.signal.aborted) {
      // Cancelled by the caller or by dispose(): neither a success nor a failure.
      this.record("Interrupted", ticket, end)
      return Promise.reject(error)
    }
    if (!ctx.timedOut && !this.isFailure(error)) {
      // An error the options do not count as a failure: the service answered.
      this.record("Succeeded", ticket, end)
      this.recorder?.failure(end - call.started, false)
      this.emit("failure", attempt, end, error)
      return Promise.reject(error)
    }
    this.recorder?.failedAttempt(error, end, attempt)
    this.emit(ctx.timedOut ? "timeout" : "failure", attempt, end, error)
    const state = this.record(ctx.timedOut ? "TimedOut" : "Failed", ticket, end, error)
    const delay = state._tag === "Open" ? undefined : this.nextDelay(end, error, call.scheduleState)
    if (delay === undefined) {
      this.recorder?.failure(end - call.started, ctx.timedOut)
      return Promise.reject(error)
    }
    call.scheduleState = delay.state
    return sleep(delay.millis, [call.signal, this.disposal.signal]).then(() => {
      this.recorder?.retry()
      this.emit("retry", attempt + 1, now())
      return this.attempt(call, attempt + 1, error)
    })
  }

  /** One step of the retry Schedule: the delay before the next attempt, or `undefined` when it is done. */
  private nextDelay(time: number, error: unknown, state: unknown): { millis: number; state: unknown } | undefined {
    if (this.schedule === undefined) return undefined
    const [next, , decision] = Effect.runSync(this.schedule.step(time, error, state))
    if (ScheduleDecision.isDone(decision)) return undefined
    return { millis: Math.max(0, ScheduleIntervals.start(decision.intervals) - time), state: next }
  }
}

/** One call across its attempts. */
interface Call {
  readonly args: ReadonlyArray<unknown>
  readonly signal: AbortSignal | undefined
  readonly started: number
  scheduleState: unknown
}

/**
 * A rejection is made on the hot path of a failing dependency, often thousands of times a
 * second: it carries no stack trace (capturing one costs more than the whole rejection).
 */
const openError = (circuit: string, retryAfter: number): CircuitOpenError => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return new CircuitOpenError(circuit, retryAfter)
  } finally {
    Error.stackTraceLimit = limit
  }
}

/** @internal */
export const create = <Args extends ReadonlyArray<unknown>, R>(
  fn: (...args: Args) => R | PromiseLike<R>,
  options?: API.Options
): API.AdvancedCircuitBreaker<Args, Awaited<R>> => {
  if (typeof fn !== "function") {
    throw new CircuitBreakerConfigError({ option: "fn", value: fn, reason: "must be a function" })
  }
  const resolved = CircuitBreakerOptions.resolve(options)
  if (Either.isLeft(resolved)) throw resolved.left
  if (resolved.right.distributedTracking) {
    throw new CircuitBreakerConfigError({
      option: "distributedTracking",
      value: true,
      reason: "shared (Redis) state is not available yet in @circuit-breaker/promise; leave it off for a local circuit"
    })
  }
  return new Breaker<Args, Awaited<R>>(fn as (...args: ReadonlyArray<unknown>) => unknown, resolved.right)
}
