// Module by module, never the entry points: importing the Promise API loads only what a call needs.
import * as CallPolicy from "@circuit-breaker/core/CallPolicy"
import { BulkheadRejectedError, CircuitBreakerConfigError } from "@circuit-breaker/core/CircuitBreakerError"
import * as CircuitBreakerState from "@circuit-breaker/core/CircuitBreakerState"
import type * as CircuitBreakerStore from "@circuit-breaker/core/CircuitBreakerStore"
import * as Deadlines from "@circuit-breaker/core/Deadlines"
import * as Either from "effect/Either"
import type * as API from "../AdvancedCircuitBreaker.js"
import { CircuitOpenError, CircuitTimeoutError } from "../errors.js"
import { AttemptContext, type Call, NoError, PendingAttempt, RetryWait } from "./attempt.js"
import { BreakerState } from "./breakerState.js"
import { PromiseBulkhead } from "./bulkhead.js"
import type { SharedTarget } from "./distributed.js"
import type { Log } from "./logger.js"
import { initialRetryState, type RetryDelay, RetryDelays } from "./retryDelays.js"
import { type CircuitState, isThenable, now, openError, rejectSoon } from "./support.js"

type Fallback = (error: unknown, ...args: ReadonlyArray<unknown>) => unknown

/**
 * A Promise breaker: admission, attempts and retries of its calls, on the state kept by
 * `BreakerState`. The closed-circuit path is synchronous up to the function's own promise.
 */
/** @internal */
export class Breaker<Args extends ReadonlyArray<unknown>, R>
  extends BreakerState
  implements API.AdvancedCircuitBreaker<Args, R>
{
  /** With `maxConcurrent`: every call takes a slot for its whole run, retries included. */
  private readonly bulkhead: PromiseBulkhead | undefined

  constructor(
    private readonly fn: (...args: ReadonlyArray<unknown>) => unknown,
    options: ConstructorParameters<typeof BreakerState>[0],
    target: SharedTarget | undefined,
    private readonly passContext: boolean,
    log: Log | undefined,
    private readonly fallback: Fallback | undefined
  ) {
    super(options, target, log)
    const bulkhead = options.policies.bulkhead
    this.bulkhead =
      bulkhead === undefined
        ? undefined
        : new PromiseBulkhead(this.name, bulkhead, () => this.recorder?.bulkheadRejected())
  }

  /** Also rejects the calls waiting in the bulkhead's queue, at once. */
  override dispose(): Promise<void> {
    const disposed = super.dispose()
    this.bulkhead?.abortQueued(this.disposal.signal.reason)
    return disposed
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
  protected call(args: ReadonlyArray<unknown>, signal: AbortSignal | undefined): Promise<R> {
    if (this.disposed) return Promise.reject(this.disposal.signal.reason)
    if (signal?.aborted) return Promise.reject(signal.reason)
    const started = now()
    const call: Call = {
      args,
      signal,
      started,
      attemptStarted: started,
      last: undefined,
      scheduleState: initialRetryState,
      slot: undefined
    }
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
    if (bulkhead.tryEnter()) return this.inSlot(bulkhead, call)
    return bulkhead.wait(call.signal).then(() => {
      if (this.disposal.signal.aborted) {
        // Handed the slot as the breaker was disposed: it goes back, and the call does not run.
        bulkhead.leave()
        return Promise.reject(this.disposal.signal.reason)
      }
      call.started = call.attemptStarted = now()
      return this.inSlot(bulkhead, call)
    })
  }

  /**
   * Runs the call in the slot it holds. An attempt that settles the call itself (its function
   * returned a promise) gives the slot back as it settles, with no promise step of its own;
   * otherwise the slot goes back once the call's promise settles.
   */
  private inSlot(bulkhead: PromiseBulkhead, call: Call): Promise<R> {
    call.slot = bulkhead
    let result: Promise<R>
    try {
      result = this.attempt(call, 1, NoError)
    } catch (error) {
      call.slot = undefined
      bulkhead.leave()
      throw error
    }
    if (call.slot === undefined) return result
    call.slot = undefined
    return result.then(bulkhead.leaveWith, bulkhead.leaveWithError)
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

  protected attempt(call: Call, attempt: number, lastError: unknown): Promise<R> {
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
      return this.admitSharedTrial(store, call, attempt, lastError, admittedAt)
    }
    return this.run(call, attempt, lastError, decision, admittedAt)
  }

  /** A trial on a shared circuit: the shared store admits it (the Half-Open limit holds across processes). */
  private admitSharedTrial(
    store: CircuitBreakerStore.Store,
    call: Call,
    attempt: number,
    lastError: unknown,
    admittedAt: number
  ): Promise<R> {
    return this.connection!.runEither(
      store.modify(this.name, this.initialState, (s) =>
        CircuitBreakerState.admit(this.policy, s as CircuitState, admittedAt)
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

  protected run(
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
    const generation = decision.generation
    const trial = decision._tag === "AdmitTrial"
    call.attemptStarted = admittedAt
    // The context is made only for a function that takes it, or once the attempt fails.
    const ctx = this.passContext ? this.context(call, attempt) : undefined
    // Called as a plain function: `this` inside it is undefined, never the breaker.
    const fn = this.fn
    const args = call.args
    let result: unknown
    try {
      result =
        ctx !== undefined ? (args.length === 0 ? fn(ctx) : fn(...args, ctx)) : args.length === 0 ? fn() : fn(...args)
    } catch (error) {
      return this.failed(call, { generation, trial }, ctx ?? this.context(call, attempt), error)
    }
    let thenable: boolean
    try {
      thenable = isThenable(result)
    } catch (error) {
      // A result whose `then` cannot even be read: a failure of the function.
      return this.failed(call, { generation, trial }, ctx ?? this.context(call, attempt), error)
    }
    if (!thenable) return Promise.resolve(this.succeeded(call, { generation, trial }, attempt, result))
    const pending = new PendingAttempt<R>(this, call, generation, trial, attempt, ctx)
    pending.start(this.timeoutMillis > 0 ? admittedAt + this.timeoutMillis : Infinity)
    return pending.settleWith(result as PromiseLike<unknown>)
  }

  /** @internal The context of an attempt of `call`. */
  context(call: Call, attempt: number): AttemptContext {
    return new AttemptContext(attempt, call.signal, this.disposal.signal)
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

  protected failedUnsafe(
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
    const delay = CallPolicy.isFinal(outcome, state)
      ? undefined
      : (this.retryDelays ??= new RetryDelays(this.options)).next(attempt, end, error, call.scheduleState)
    return delay instanceof Promise
      ? delay.then((d) => this.retryAfter(call, outcome, attempt, end, error, d))
      : this.retryAfter(call, outcome, attempt, end, error, delay)
  }

  /** Retries after `delay`, or rejects with `error` when there is no retry left. */
  private retryAfter(
    call: Call,
    outcome: CallPolicy.Outcome,
    attempt: number,
    end: number,
    error: unknown,
    delay: RetryDelay | undefined
  ): Promise<R> {
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
}
