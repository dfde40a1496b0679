import {
  BulkheadRejectedError,
  type CircuitBreaker,
  CircuitBreakerConfigError,
  CircuitBreakerError,
  CircuitBreakerMetrics,
  CircuitBreakerState,
  type CircuitBreakerStore,
  LiveCircuits
} from "@circuit-breaker/core"
import {
  CallPolicy,
  CircuitBreakerOptions,
  countOutcome,
  Deadlines,
  liveMetrics,
  makeRecorder,
  type Recorder
} from "@circuit-breaker/core/internal"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import type * as API from "../AdvancedCircuitBreaker.js"
import { CircuitBreakerDisposedError, CircuitOpenError, CircuitTimeoutError } from "../errors.js"
import { PromiseBulkhead } from "./bulkhead.js"
import { type Connection, connect, type RedisTarget, resolveTarget } from "./distributed.js"

type CircuitState = CircuitBreakerState.CircuitState<unknown>

const stateNames = { Closed: "CLOSED", Open: "OPEN", HalfOpen: "HALF_OPEN" } as const satisfies Record<
  CircuitState["_tag"],
  API.CircuitStateName
>

/** Read once: `performance.timeOrigin` is a getter that allocates a number on every read. */
const timeOrigin = performance.timeOrigin
/** Milliseconds since the epoch, from the monotonic clock (latencies need sub-millisecond precision). */
const now = (): number => timeOrigin + performance.now()

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
/** A value not computed yet (the retry Schedule, a call's Schedule state). */
const NOT_BUILT: unique symbol = Symbol("NotBuilt")

class Breaker<Args extends ReadonlyArray<unknown>, R> implements API.AdvancedCircuitBreaker<Args, R> {
  readonly name: string
  /**
   * The shared store once it is open (distributedTracking); until then, and for every
   * breaker without one, the state lives in `lastKnown` alone.
   */
  private store: CircuitBreakerStore.Store | undefined = undefined
  private readonly connection: Connection | undefined
  /**
   * The state: this breaker's own, or the last it saw of the shared one (a change made by
   * another process is announced here too).
   */
  private lastKnown: CircuitState
  private readonly policy: CircuitBreakerState.Policy<any>
  private readonly initialState: CircuitState
  private readonly recorder: Recorder | undefined
  private readonly options: CircuitBreaker.CircuitBreaker.Resolved
  private scheduleMemo: Schedule.Schedule<unknown, unknown> | undefined | typeof NOT_BUILT = NOT_BUILT
  private readonly timeoutMillis: number
  private readonly callPolicy: CallPolicy.CallPolicy
  private readonly bulkhead: PromiseBulkhead | undefined
  private readonly fallback: Fallback | undefined
  /** With a slow-call rule: an attempt longer than this is slow. */
  private readonly slowMs: number | undefined
  private readonly disposal = new AbortController()
  /** Made for the first call: an idle breaker holds no list. */
  private deadlineList: Deadlines.Deadlines | undefined = undefined
  private stateListeners: Set<(event: API.StateChangeEvent) => void> | undefined
  private outcomeListeners: Set<(event: API.CallOutcomeEvent) => void> | undefined

  constructor(
    private readonly fn: (...args: ReadonlyArray<unknown>) => unknown,
    options: CircuitBreaker.CircuitBreaker.Resolved,
    target: RedisTarget | undefined,
    private readonly passContext: boolean,
    fallback: Fallback | undefined
  ) {
    this.name = options.name
    this.policy = CircuitBreakerOptions.policyOf(options)
    this.initialState = CircuitBreakerState.initial(this.policy, now())
    this.recorder = options.metricsTracking
      ? makeRecorder(options.name, options.serviceId, options.failureHistorySize)
      : undefined
    this.options = options
    this.timeoutMillis = Duration.isFinite(options.timeout) ? Duration.toMillis(options.timeout) : 0
    this.callPolicy = CallPolicy.fromOptions(options)
    this.fallback = fallback
    this.slowMs = options.policies.window?.thresholds.slowCallDurationThreshold
    const bulkhead = options.policies.bulkhead
    this.bulkhead =
      bulkhead === undefined
        ? undefined
        : new PromiseBulkhead(this.name, bulkhead, () => this.recorder?.bulkheadRejected())
    this.lastKnown = this.initialState
    LiveCircuits.register(this, this.recorder)
    if (target !== undefined) {
      this.connection = connect(target)
      this.connection.ready.then(
        (store) => {
          if (!this.disposal.signal.aborted) this.store = store
        },
        (error) =>
          process.emitWarning(
            `circuit "${this.name}": the shared store could not be opened (${describeThrown(error)})`,
            {
              code: "CIRCUIT_BREAKER_STORE"
            }
          )
      )
    }
  }

  // --- state ---------------------------------------------------------------------

  /** Applies a pure transition to the stored state, synchronously, and announces a change of state. */
  private apply<A>(
    f: (state: CircuitState) => readonly [A, CircuitState],
    cause?: unknown
  ): readonly [A, CircuitState] {
    const store = this.store
    if (store === undefined) return this.observe(f(this.lastKnown), cause)
    let result!: readonly [A, CircuitState]
    store.unsafeModify!(this.name, this.initialState, (current) => {
      result = f(current as CircuitState)
      return result
    })
    return this.observe(result, cause)
  }

  /** Announces a change from the state this breaker saw last. */
  private observe<A>(result: readonly [A, CircuitState], cause?: unknown): readonly [A, CircuitState] {
    this.observeState(result[1], cause)
    return result
  }

  private observeState(next: CircuitState, cause: unknown): CircuitState {
    const previous = this.lastKnown
    this.lastKnown = next
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
    return next
  }

  /** Records an attempt's outcome: how long it took (for slow calls) and a `Retry-After` the service gave. */
  private record(
    tag: "Succeeded" | "Failed" | "TimedOut" | "Interrupted",
    ticket: CircuitBreakerState.Ticket,
    time: number,
    cause?: unknown,
    durationMs?: number,
    retryAfter?: number
  ): CircuitState {
    const state = this.recordState(tag, ticket, time, cause, durationMs, retryAfter)
    if (tag !== "Interrupted") countOutcome(this.counting, this.policy, state, durationMs, this.slowMs)
    return state
  }

  private recordState(
    tag: "Succeeded" | "Failed" | "TimedOut" | "Interrupted",
    ticket: CircuitBreakerState.Ticket,
    time: number,
    cause: unknown,
    durationMs: number | undefined,
    retryAfter: number | undefined
  ): CircuitState {
    const event: CircuitBreakerState.CircuitEvent =
      tag === "Failed"
        ? { _tag: tag, now: time, generation: ticket.generation, trial: ticket.trial, durationMs, retryAfter }
        : { _tag: tag, now: time, generation: ticket.generation, trial: ticket.trial, durationMs }
    const store = this.store
    if (store === undefined) {
      return this.observeState(CircuitBreakerState.transition(this.policy, this.lastKnown, event), cause)
    }
    if (store.unsafeGet !== undefined) {
      // Most outcomes change nothing (a success with no failures counted): no modify then.
      const current = store.unsafeGet(this.name, this.initialState) as CircuitState
      const next = CircuitBreakerState.transition(this.policy, current, event)
      if (next === current) return this.observeState(current, cause)
    }
    return this.apply((s) => [undefined, CircuitBreakerState.transition(this.policy, s, event)], cause)[1]
  }

  private emit(
    outcome: API.CallOutcomeEvent["outcome"],
    attempt: number,
    time: number,
    args: ReadonlyArray<unknown>,
    latency?: number,
    error: unknown = NoError
  ): void {
    if (this.outcomeListeners === undefined || this.outcomeListeners.size === 0) return
    const event: { -readonly [K in keyof API.CallOutcomeEvent]: API.CallOutcomeEvent[K] } = {
      circuit: this.name,
      outcome,
      attempt,
      time,
      args
    }
    if (latency !== undefined) event.latency = latency
    if (error !== NoError) event.error = error
    notify(this.outcomeListeners, event)
  }

  /** The state now, with the passage of time applied. */
  private current(): CircuitState {
    const t = now()
    return this.apply((s) => [undefined, CircuitBreakerState.advance(this.policy, s, t)])[1]
  }

  /** The recorder, unless the circuit is `disabled` (which records nothing). */
  private get counting(): Recorder | undefined {
    return this.lastKnown.mode === "disabled" ? undefined : this.recorder
  }

  setMode(mode: API.Mode): Promise<void> {
    const invalid = CircuitBreakerOptions.invalidMode(mode)
    if (invalid !== undefined) return Promise.reject(invalid)
    const t = now()
    this.apply((s) => [
      undefined,
      CircuitBreakerState.transition(this.policy, s, { _tag: "ModeChanged", now: t, mode })
    ])
    return Promise.resolve()
  }

  getMode(): API.Mode {
    return CircuitBreakerState.modeOf(this.current())
  }

  getState(): API.CircuitStateName {
    return stateNames[this.current()._tag]
  }

  getMetrics(): API.CircuitMetrics {
    const state = this.current()
    const live = liveMetrics(this.policy, state, now())
    const snapshot = this.recorder?.snapshot(state._tag, live) ?? {
      ...CircuitBreakerMetrics.empty(this.name, state._tag),
      ...live
    }
    return { ...snapshot, state: stateNames[state._tag] }
  }

  reset(): Promise<void> {
    const t = now()
    this.apply((s) => [undefined, CircuitBreakerState.transition(this.policy, s, { _tag: "Reset", now: t })])
    return Promise.resolve()
  }

  getDistributedState(): Promise<API.DistributedState | null> {
    if (this.connection === undefined) return Promise.resolve(null)
    return this.connection.ready
      .then((store) => run(store.snapshot(this.name)))
      .then((snapshot) => toDistributedState(this.name, snapshot))
  }

  /** @internal What the shared store holds for every circuit under its prefix. */
  sharedCircuits(): Promise<Record<string, API.DistributedState>> | undefined {
    if (this.connection === undefined) return undefined
    return this.connection.ready.then(async (store) => {
      const names = await run(store.listCircuits)
      const out: Record<string, API.DistributedState> = {}
      for (const name of names) {
        out[name] = toDistributedState(name, await run(store.snapshot(name)))
      }
      return out
    })
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
      this.deadlineList?.expireAll()
      if (this.connection !== undefined) return this.connection.close()
      this.stateListeners = undefined
      this.outcomeListeners = undefined
    }
    return Promise.resolve()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose()
  }

  // --- execution -----------------------------------------------------------------

  execute(...args: Args): Promise<R> {
    return this.call(args, undefined)
  }

  executeWith(options: API.ExecuteOptions, ...args: Args): Promise<R> {
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
    const started = now()
    const call: Call = { args, signal, started, attemptStarted: started, last: undefined, scheduleState: NOT_BUILT }
    const result =
      this.bulkhead === undefined ? this.attempt(call, 1, NoError) : this.throughBulkhead(this.bulkhead, call)
    const fallback = this.fallback
    return fallback === undefined ? result : result.catch((error: unknown) => this.fallBack(fallback, call, error))
  }

  /**
   * The call in a bulkhead slot, taken for its whole run (retries included), after waiting in
   * the queue if need be. A call the circuit rejects anyway is rejected by it and takes no slot.
   */
  private throughBulkhead(bulkhead: PromiseBulkhead, call: Call): Promise<R> {
    const state = this.lastKnown
    if (state._tag !== "Closed" && CircuitBreakerState.decide(this.policy, state, call.started)._tag === "Reject") {
      return this.attempt(call, 1, NoError)
    }
    if (bulkhead.tryEnter()) return this.attempt(call, 1, NoError).then(bulkhead.leaveWith, bulkhead.leaveWithError)
    return bulkhead.wait(call.signal ?? this.disposal.signal).then(() => {
      call.started = call.attemptStarted = now()
      return this.attempt(call, 1, NoError).then(bulkhead.leaveWith, bulkhead.leaveWithError)
    })
  }

  /**
   * The fallback's answer for a call rejected (open circuit, bulkhead) or failed for good
   * (after its retries, or a timeout); any other error (a cancellation, an error `isFailure`
   * excludes or ignores) goes to the caller as it is.
   */
  private fallBack(fallback: Fallback, call: Call, error: unknown): Promise<R> {
    const rejected = error instanceof CircuitOpenError || error instanceof BulkheadRejectedError
    const failed = call.last !== undefined && call.last.verdict === "failure" && call.last.invalid === undefined
    const cancelled = call.signal?.aborted === true || this.disposal.signal.aborted
    if (cancelled || !(rejected || failed)) return Promise.reject(error)
    this.counting?.fallback()
    this.emit("fallback", 1, now(), call.args, undefined, error)
    return new Promise<R>((resolve) => resolve(fallback(error, ...call.args) as R))
  }

  private attempt(call: Call, attempt: number, lastError: unknown): Promise<R> {
    const admittedAt = attempt === 1 ? call.started : now()
    const store = this.store
    if (store === undefined) {
      const current = this.lastKnown
      const decision = CircuitBreakerState.decide(this.policy, current, admittedAt)
      this.observeState(
        decision._tag === "AdmitTrial"
          ? CircuitBreakerState.admit(this.policy, current, admittedAt)[1]
          : // Neither an admission nor a rejection outside Half-Open takes a slot: only time moves the state.
            CircuitBreakerState.advance(this.policy, current, admittedAt),
        undefined
      )
      return this.run(call, attempt, lastError, decision, admittedAt)
    }
    if (store.unsafeGet !== undefined) {
      // Admitting outside Half-Open, or rejecting, changes nothing unless time moves the state.
      const current = store.unsafeGet(this.name, this.initialState) as CircuitState
      const decision = CircuitBreakerState.decide(this.policy, current, admittedAt)
      if (decision._tag !== "AdmitTrial" && CircuitBreakerState.advance(this.policy, current, admittedAt) === current) {
        this.observeState(current, undefined)
        return this.run(call, attempt, lastError, decision, admittedAt)
      }
    }
    const [decision] = this.apply((s) => {
      const d = CircuitBreakerState.decide(this.policy, s, admittedAt)
      // A trial on a shared circuit is admitted by the shared store (below), not locally.
      return store !== undefined && d._tag === "AdmitTrial"
        ? [d, s]
        : CircuitBreakerState.admit(this.policy, s, admittedAt)
    })
    if (store !== undefined && decision._tag === "AdmitTrial") {
      return Effect.runPromise(
        Effect.either(
          store.modify(this.name, this.initialState, (s) =>
            CircuitBreakerState.admit(this.policy, s as CircuitState, admittedAt)
          )
        )
      ).then((admitted) => {
        const read = store.unsafeModify!(this.name, this.initialState, (s) => [s, s])
        // When Redis cannot be reached in time, the trial is admitted on the local view.
        const final = Either.isRight(admitted)
          ? this.observe([admitted.right, read as CircuitState])[0]
          : this.apply((s) => CircuitBreakerState.admit(this.policy, s, admittedAt))[0]
        // Aborted or disposed while the store admitted the trial: the slot goes back, fn is not called.
        const cancelled = this.disposal.signal.aborted
          ? this.disposal.signal
          : call.signal?.aborted
            ? call.signal
            : undefined
        if (cancelled !== undefined && final._tag !== "Reject") {
          const ticket = { generation: final.generation, trial: final._tag === "AdmitTrial" }
          return this.failed(
            call,
            ticket,
            new AttemptContext(attempt, call.signal, this.disposal.signal),
            cancelled.reason
          )
        }
        return this.run(call, attempt, lastError, final, admittedAt)
      })
    }
    return this.run(call, attempt, lastError, decision, admittedAt)
  }

  private run(
    call: Call,
    attempt: number,
    lastError: unknown,
    decision: CircuitBreakerState.Decision,
    admittedAt: number
  ): Promise<R> {
    if (decision._tag === "Reject") {
      CallPolicy.record(this.counting, CallPolicy.onRejected(call.last), admittedAt - call.started)
      // The circuit opened while this call was retrying: it ends with the service's last error.
      if (lastError !== NoError) return Promise.reject(lastError)
      this.emit("rejected", attempt, admittedAt, call.args)
      return rejectSoon(openError(this.name, decision.retryAfter))
    }
    const ticket: CircuitBreakerState.Ticket = {
      generation: decision.generation,
      trial: decision._tag === "AdmitTrial"
    }
    call.attemptStarted = admittedAt
    const ctx = new AttemptContext(attempt, call.signal, this.disposal.signal)
    // Called as a plain function: `this` inside it is undefined, never the breaker.
    const fn = this.fn
    const args = call.args
    let result: unknown
    try {
      result = this.passContext
        ? args.length === 0
          ? fn(ctx)
          : fn(...args, ctx)
        : args.length === 0
          ? fn()
          : fn(...args)
    } catch (error) {
      return this.failed(call, ticket, ctx, error)
    }
    let thenable: boolean
    try {
      thenable = isThenable(result)
    } catch (error) {
      // A result whose `then` cannot even be read: a failure of the function.
      return this.failed(call, ticket, ctx, error)
    }
    if (!thenable) return Promise.resolve(this.succeeded(call, ticket, attempt, result))
    const pending = new PendingAttempt<R>(this, call, ticket, ctx, attempt)
    pending.start(this.timeoutMillis > 0 ? admittedAt + this.timeoutMillis : Infinity)
    return pending.settleWith(result as PromiseLike<unknown>)
  }

  /** @internal The breaker's deadlines, made for its first asynchronous call. */
  deadlines(): Deadlines.Deadlines {
    return (this.deadlineList ??= new Deadlines.Deadlines(now))
  }

  /** @internal */
  timedOut(call: Call, ticket: CircuitBreakerState.Ticket, ctx: AttemptContext, attempt: number): Promise<R> {
    if (this.disposal.signal.aborted) return this.failed(call, ticket, ctx, this.disposal.signal.reason)
    const error = new CircuitTimeoutError(this.name, this.timeoutMillis, attempt)
    ctx.timedOut = true
    ctx.abort(error)
    return this.failed(call, ticket, ctx, error)
  }

  /** @internal */
  succeeded(call: Call, ticket: CircuitBreakerState.Ticket, attempt: number, value: unknown): R {
    const end = now()
    const latency = end - call.attemptStarted
    const outcome = CallPolicy.succeeded(this.callPolicy, value, latency, call.args)
    this.record(outcome.event, ticket, end, undefined, latency)
    CallPolicy.record(this.counting, CallPolicy.ending(outcome), end - call.started)
    if (outcome.report !== undefined) this.emit(outcome.report, attempt, end, call.args, latency)
    return value as R
  }

  /**
   * Records a failed attempt, then retries after the Schedule's delay or rejects. Never
   * throws: whatever goes wrong, the caller's promise settles with the service's error.
   */
  /** @internal Never throws. */
  failed(call: Call, ticket: CircuitBreakerState.Ticket, ctx: AttemptContext, error: unknown): Promise<R> {
    try {
      return this.failedUnsafe(call, ticket, ctx, error)
    } catch {
      return Promise.reject(error)
    }
  }

  private failedUnsafe(
    call: Call,
    ticket: CircuitBreakerState.Ticket,
    ctx: AttemptContext,
    error: unknown
  ): Promise<R> {
    const end = now()
    const attempt = ctx.attempt
    const latency = end - call.attemptStarted
    const outcome =
      call.signal?.aborted || this.disposal.signal.aborted
        ? // Cancelled by the caller or by dispose(), whatever fn did meanwhile: neither a success nor a failure.
          CallPolicy.cancelled
        : ctx.timedOut
          ? CallPolicy.timedOut(this.callPolicy, latency)
          : CallPolicy.failed(this.callPolicy, error, latency, call.args)
    if (outcome.verdict === "failure") this.counting?.failedAttempt(error, end, attempt)
    if (outcome.report !== undefined) this.emit(outcome.report, attempt, end, call.args, latency, error)
    const state = this.record(
      outcome.event,
      ticket,
      end,
      outcome.verdict === "failure" ? error : undefined,
      latency,
      CallPolicy.retryAfter(this.callPolicy, outcome, error)
    )
    call.last = outcome
    if (outcome.invalid !== undefined) return Promise.reject(outcome.invalid)
    const delay = CallPolicy.isFinal(outcome, state) ? undefined : this.nextDelay(end, error, call.scheduleState)
    if (delay === undefined) {
      CallPolicy.record(this.counting, CallPolicy.ending(outcome), end - call.started)
      return Promise.reject(error)
    }
    call.scheduleState = delay.state
    return new Promise<void>((resolve, reject) =>
      new RetryWait(this.deadlines(), call.signal, this.disposal.signal, resolve, reject).start(end + delay.millis)
    ).then(() => {
      this.counting?.retry()
      this.emit("retry", attempt + 1, now(), call.args)
      return this.attempt(call, attempt + 1, error)
    })
  }

  /** The retry Schedule, built at the first failure: an idle breaker holds none (one costs about 2 KB). */
  private get schedule(): Schedule.Schedule<unknown, unknown> | undefined {
    if (this.scheduleMemo === NOT_BUILT) this.scheduleMemo = CircuitBreakerOptions.retrySchedule(this.options)
    return this.scheduleMemo
  }

  /** One step of the retry Schedule: the delay before the next attempt, or `undefined` when it is done. */
  private nextDelay(time: number, error: unknown, state: unknown): { millis: number; state: unknown } | undefined {
    const schedule = this.schedule
    if (schedule === undefined) return undefined
    if (state === NOT_BUILT) state = schedule.initial
    // A Schedule whose step is asynchronous (or fails) cannot be stepped here: the call ends.
    const step = Effect.runSyncExit(schedule.step(time, error, state))
    if (Exit.isFailure(step)) return undefined
    const [next, , decision] = step.value
    if (ScheduleDecision.isDone(decision)) return undefined
    return { millis: Math.max(0, ScheduleIntervals.start(decision.intervals) - time), state: next }
  }
}

/**
 * An attempt whose function returned a promise. It settles the caller's promise once: with
 * the function's outcome, its timeout (a node of the breaker's deadlines: no timer and no
 * closure of its own), the caller's abort (it is the abort listener) or the disposal.
 */
class PendingAttempt<R> extends Deadlines.Deadline {
  private settled = false
  private resolve!: (value: R | PromiseLike<R>) => void
  private reject!: (reason: unknown) => void
  private list: Deadlines.Deadlines | undefined = undefined

  constructor(
    private readonly breaker: Breaker<any, R>,
    private readonly call: Call,
    private readonly ticket: CircuitBreakerState.Ticket,
    private readonly ctx: AttemptContext,
    private readonly attempt: number
  ) {
    super()
  }

  start(at: number): void {
    this.at = at
    const list = this.breaker.deadlines()
    list.insert(this)
    this.list = list
    this.call.signal?.addEventListener("abort", this, { once: true })
  }

  settleWith(result: PromiseLike<unknown>): Promise<R> {
    nextPending = this
    const promise = new Promise<R>(capture)
    try {
      result.then(
        (value) => this.succeed(value),
        (error) => this.fail(error)
      )
    } catch (error) {
      // A `then` that throws: the attempt failed, and nothing stays registered for it.
      this.fail(error)
    }
    return promise
  }

  /** @internal Called by `capture`, inside the Promise constructor. */
  bind(resolve: (value: R | PromiseLike<R>) => void, reject: (reason: unknown) => void): void {
    this.resolve = resolve
    this.reject = reject
  }

  private settle(): boolean {
    if (this.settled) return false
    this.settled = true
    this.list?.remove(this)
    this.call.signal?.removeEventListener("abort", this)
    return true
  }

  private succeed(value: unknown): void {
    if (this.settle()) this.resolve(this.breaker.succeeded(this.call, this.ticket, this.attempt, value))
  }

  private fail(error: unknown): void {
    if (this.settle()) this.breaker.failed(this.call, this.ticket, this.ctx, error).then(this.resolve, this.reject)
  }

  /** The deadline passed (or the breaker was disposed). */
  expire(): void {
    if (this.settle())
      this.breaker.timedOut(this.call, this.ticket, this.ctx, this.attempt).then(this.resolve, this.reject)
  }

  /** The caller's signal aborted. */
  handleEvent(): void {
    if (!this.settle()) return
    const reason = this.call.signal!.reason
    this.ctx.abort(reason)
    this.breaker.failed(this.call, this.ticket, this.ctx, reason).then(this.resolve, this.reject)
  }
}

/**
 * The wait before a retry: a node of the breaker's deadlines (so that disposal, which
 * expires them all, ends it, and no listener is added to the breaker's own signal per
 * waiting call), cut short by the caller's signal.
 */
class RetryWait extends Deadlines.Deadline {
  constructor(
    private readonly list: Deadlines.Deadlines,
    private readonly signal: AbortSignal | undefined,
    private readonly disposal: AbortSignal,
    private readonly resolve: () => void,
    private readonly reject: (reason: unknown) => void
  ) {
    super()
  }

  start(at: number): void {
    if (this.signal?.aborted) {
      this.reject(this.signal.reason)
      return
    }
    this.at = at
    this.list.insert(this)
    this.signal?.addEventListener("abort", this, { once: true })
  }

  /** The delay passed, or the breaker was disposed. */
  expire(): void {
    this.signal?.removeEventListener("abort", this)
    if (this.disposal.aborted) this.reject(this.disposal.reason)
    else this.resolve()
  }

  /** The caller's signal aborted. */
  handleEvent(): void {
    this.list.remove(this)
    this.reject(this.signal!.reason)
  }
}

/** Hands the Promise constructor's functions to the attempt being settled: no closure per call. */
let nextPending: PendingAttempt<any> | undefined
const capture = (resolve: (value: any) => void, reject: (reason: unknown) => void): void => {
  nextPending!.bind(resolve, reject)
  nextPending = undefined
}

/** One call across its attempts. */
type Fallback = (error: unknown, ...args: ReadonlyArray<unknown>) => unknown

interface Call {
  readonly args: ReadonlyArray<unknown>
  readonly signal: AbortSignal | undefined
  /** When the call began (or left the bulkhead's queue). */
  started: number
  /** When its current attempt began. */
  attemptStarted: number
  /** How its last attempt counted, once one ended. */
  last: CallPolicy.Outcome | undefined
  scheduleState: unknown
}

/**
 * A promise that rejects on the next microtask rather than at once: by then the caller has
 * attached its handler, so Node's unhandled-rejection bookkeeping (a large part of the cost
 * of an already-rejected promise) never runs.
 */
const rejectSoon = <A>(error: unknown): Promise<A> => new Promise<A>((_, reject) => queueMicrotask(() => reject(error)))

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

/** Runs an effect for a Promise caller: it rejects with the error itself (a `CircuitStoreError`), not a wrapper. */
const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
  Effect.runPromiseExit(effect).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    throw Cause.squash(exit.cause)
  })

/** The Promise API's own options, which the core does not know. */
interface PromiseOnly {
  readonly redis: API.Options["redis"]
  readonly passContext: unknown
  readonly fallback: unknown
}

/** Takes the Promise API's own options (`redis`, `passContext`) out of the options the core validates. */
const splitPromiseOptions = (options: unknown): readonly [unknown, PromiseOnly] => {
  const none: PromiseOnly = { redis: undefined, passContext: undefined, fallback: undefined }
  if (typeof options !== "object" || options === null || Array.isArray(options)) return [options, none]
  try {
    if (!["redis", "passContext", "fallback"].some((key) => Object.hasOwn(options, key))) return [options, none]
    const { fallback, passContext, redis, ...rest } = options as API.Options & { readonly passContext?: unknown }
    return [rest, { redis, passContext, fallback }]
  } catch {
    // A hostile object: the core's validation reports it.
    return [options, none]
  }
}

/** An unnamed in-memory breaker is named after its function, as opossum does (else the core generates a name). */
const withDefaultName = (options: unknown, fn: { readonly name: string }): unknown => {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    return options === undefined && fn.name !== "" ? { name: fn.name } : options
  }
  try {
    const o = options as API.Options
    if (o.name !== undefined || o.serviceId !== undefined || o.distributedTracking === true || fn.name === "") {
      return options
    }
    return { ...o, name: fn.name }
  } catch {
    return options
  }
}

const stateNameOf = (state: CircuitBreakerState.CircuitState<unknown>): API.CircuitStateName => stateNames[state._tag]

const toDistributedState = (
  circuit: string,
  snapshot: Option.Option<{
    readonly state: CircuitBreakerState.CircuitState<unknown>
    readonly updatedAt: number | null
    readonly updatedBy: string | null
  }>
): API.DistributedState => {
  if (Option.isNone(snapshot)) {
    return { circuit, state: "CLOSED", failureCount: 0, openedAt: null, updatedAt: null, updatedBy: null }
  }
  const { state, updatedAt, updatedBy } = snapshot.value
  return {
    circuit,
    state: stateNameOf(state),
    failureCount: state._tag === "Closed" && typeof state.tally === "number" ? state.tally : 0,
    openedAt: state._tag === "Open" ? state.openedAt : null,
    updatedAt,
    updatedBy
  }
}

/** @internal */
export const create = <Args extends ReadonlyArray<unknown>, R>(
  fn: (...args: ReadonlyArray<any>) => R | PromiseLike<R>,
  options?: API.Options
): API.AdvancedCircuitBreaker<Args, Awaited<R>> => {
  if (typeof fn !== "function") {
    throw new CircuitBreakerConfigError({ option: "fn", value: fn, reason: "must be a function" })
  }
  const [coreOptions, { fallback, passContext, redis }] = splitPromiseOptions(options)
  const checkedFallback = CircuitBreakerOptions.fallbackOf(fallback)
  if (Either.isLeft(checkedFallback)) throw checkedFallback.left
  if (passContext !== undefined && typeof passContext !== "boolean") {
    throw new CircuitBreakerConfigError({ option: "passContext", value: passContext, reason: "must be true or false" })
  }
  const resolved = CircuitBreakerOptions.resolve(withDefaultName(coreOptions, fn))
  if (Either.isLeft(resolved)) throw resolved.left
  if (redis !== undefined && !resolved.right.distributedTracking) {
    throw new CircuitBreakerConfigError({
      option: "redis",
      value: "(redacted)",
      reason: "is used only with distributedTracking: true"
    })
  }
  const target = resolved.right.distributedTracking ? resolveTarget(redis) : undefined
  return new Breaker<Args, Awaited<R>>(
    fn as (...args: ReadonlyArray<unknown>) => unknown,
    resolved.right,
    target,
    passContext === true,
    checkedFallback.right
  )
}
