import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as Schedule from "effect/Schedule"
import type { Bulkhead } from "../Bulkhead.js"
import { type BulkheadRejectedError, CircuitOpenError, type CircuitTimeoutError } from "../CircuitBreakerError.js"
import * as State from "../CircuitBreakerState.js"
import { Deadlines } from "../Deadlines.js"
import { AttemptOutcomes, type Call, FailedAttempt } from "./attemptOutcome.js"
import {
  type AttemptContext,
  AttemptTimer,
  clockNow,
  clockOf,
  deadlinesOn,
  endTimed,
  hasChildren,
  liveNow,
  NOT_TIMED,
  withTimeoutForked
} from "./attemptTimer.js"
import * as bulkheads from "./bulkhead.js"
import * as callPolicy from "./callPolicy.js"
import { retrySchedule } from "./retrySchedule.js"
import { type Admission, andThen, type CircuitState } from "./stateCell.js"

const NOT_BUILT: unique symbol = Symbol("NotBuilt")

/** An uninterruptible mask's `restore`, or `Effect.interruptible`. */
type Restore = <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>

/**
 * Admission and retries of an Effect call: the fast admission on a Closed circuit, the trial
 * a shared store must confirm (under a mask, so that its slot comes back), one untimed and one
 * timed path for an attempt, and the retry Schedule between attempts.
 *
 * @internal
 */
export abstract class Executor extends AttemptOutcomes {
  private deadlineList: Deadlines | undefined = undefined
  private scheduleMemo: Schedule.Schedule<unknown, unknown> | undefined | typeof NOT_BUILT = NOT_BUILT

  /** The retry Schedule, built at the first failure: an idle breaker holds none (one costs about 2 KB). */
  private get schedule(): Schedule.Schedule<unknown, unknown> | undefined {
    if (this.scheduleMemo === NOT_BUILT) this.scheduleMemo = retrySchedule(this.options)
    return this.scheduleMemo
  }

  /** The attempts' timeouts on `clock`; on the live clock, the breaker's own list, made for its first timed attempt. */
  protected deadlines(clock: Clock.Clock): Deadlines {
    return deadlinesOn(clock, () => (this.deadlineList ??= new Deadlines(liveNow)))
  }

  /** With `maxConcurrent`: every call takes a slot for its whole run, retries included. */
  private bulkheadMemo: Bulkhead | undefined | typeof NOT_BUILT = NOT_BUILT

  private get bulkhead(): Bulkhead | undefined {
    if (this.bulkheadMemo === NOT_BUILT) {
      const policy = this.options.policies.bulkhead
      const recorder = this.recorder
      this.bulkheadMemo =
        policy === undefined ? undefined : bulkheads.fromPolicy(this.name, policy, () => recorder?.bulkheadRejected())
    }
    return this.bulkheadMemo
  }

  execute<A, E, R>(
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError | BulkheadRejectedError, R> {
    const bulkhead = this.bulkhead
    if (bulkhead === undefined) return this.executeCall(effect)
    // A call the circuit rejects anyway is rejected by the circuit, and takes no slot.
    return Effect.clockWith((clock) =>
      this.lastKnown._tag === "Closed" || State.decide(this.policy, this.lastKnown, clockNow(clock))._tag !== "Reject"
        ? bulkhead.run(this.executeCall(effect))
        : this.executeCall(effect)
    )
  }

  private executeCall<A, E, R>(
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError, R> {
    return Effect.withFiberRuntime((fiber, status) => {
      const clock = clockOf(fiber.currentDefaultServices)
      const started = clockNow(clock)
      const call: Call<A, E, R> = {
        effect,
        fiber,
        interruptible: RuntimeFlags.interruption(status.runtimeFlags),
        clock,
        started,
        attemptStarted: started,
        last: undefined,
        driver: undefined
      }
      // The common case, kept short: a Closed circuit admits the call, with nothing to write or announce.
      const admission = this.admitClosed()
      if (admission === undefined) return this.attempt(call, 1, undefined)
      return this.timeoutMillis === 0
        ? this.untimed(call, admission, 1, undefined)
        : this.run(call, admission, 1, undefined, started)
    })
  }

  protected attempt<A, E, R>(
    call: Call<A, E, R>,
    attempt: number,
    lastFailure: Cause.Cause<E | CircuitTimeoutError> | undefined
  ): Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError, R> {
    if (this.store.unsafeModify === undefined) return this.attemptMasked(call, attempt, lastFailure)
    // Fast path: admit synchronously, without an uninterruptible region. A trial call is
    // not admitted here: it takes a Half-Open slot, which must be given back even if the
    // call is interrupted, so it goes through `attemptMasked`.
    const now = attempt === 1 ? call.started : clockNow(call.clock)
    const store = this.store
    if (store.unsafeGet !== undefined) {
      // Admitting outside Half-Open, or rejecting, changes nothing unless time moves the state.
      const current = store.unsafeGet(this.name, this.initialState) as CircuitState
      const decision = State.decide(this.policy, current, now)
      if (decision._tag !== "AdmitTrial" && State.advance(this.policy, current, now) === current) {
        const announced = this.observed(current)
        return announced === undefined
          ? this.run(call, decision, attempt, lastFailure, now)
          : Effect.flatMap(announced, () => this.run(call, decision, attempt, lastFailure, now))
      }
    }
    return andThen(
      this.apply((s) => {
        const decision = State.decide(this.policy, s, now)
        return decision._tag === "AdmitTrial" ? [decision, s] : State.admit(this.policy, s, now)
      }),
      ({ value: decision }) =>
        decision._tag === "AdmitTrial"
          ? this.attemptMasked(call, attempt, lastFailure)
          : this.run(call, decision, attempt, lastFailure, now)
    )
  }

  /** Runs an attempt admitted (or rejected) outside Half-Open at `now`. */
  protected run<A, E, R>(
    call: Call<A, E, R>,
    decision: State.Decision,
    attempt: number,
    lastFailure: Cause.Cause<E | CircuitTimeoutError> | undefined,
    now: number
  ): Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError, R> {
    if (decision._tag !== "Admit" || this.timeoutMillis === 0) {
      return this.admitted(call, decision, attempt, lastFailure, undefined)
    }
    if (call.interruptible && !hasChildren(call.fiber)) {
      return this.timedInCallersFiber(call, decision, attempt, now)
    }
    // A timed attempt runs in a region that its timer's interruption cannot leave.
    return this.settle(
      call,
      attempt,
      Effect.uninterruptibleMask((restore) => this.admitted(call, decision, attempt, lastFailure, restore))
    )
  }

  /**
   * A timed attempt in the caller's fiber, which is interruptible and has no children (the
   * common case): the attempt runs in the caller's fiber, and when the timeout passes the
   * timer interrupts that fiber with an interruptor of its own. The interruption unwinds the
   * effect (its finalizers run, an awaited promise's signal aborts) up to this region, which
   * is uninterruptible so that its handlers run; they take the interruptor back, so the
   * caller goes on and sees a timeout. It is `Effect.timeout`'s semantics without its fork
   * (7 to 12 µs a call). The caller was interruptible, so the effect and any retry run
   * interruptible again (no `uninterruptibleMask`, whose restore would do the same, costlier).
   */
  protected timedInCallersFiber<A, E, R>(
    call: Call<A, E, R>,
    ticket: Admission,
    attempt: number,
    now: number
  ): Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError, R> {
    if (attempt > 1) this.countRetry(call, attempt)
    return Effect.uninterruptible(
      this.timed(call, ticket, attempt, now, Effect.interruptible, (cause, ctx) =>
        Effect.interruptible(
          Effect.flatMap(this.failed(call, cause, ticket, ctx, attempt), (f) => this.retryOrFail(call, attempt, f))
        )
      )
    )
  }

  /**
   * The one timed path. The attempt runs in the caller's fiber, inside an uninterruptible
   * region that `interruptible` opens for the effect (the timer's interruption reaches the
   * effect, and the handlers run); when the caller's fiber has children, which its
   * interruption would reach, it runs in a fiber of its own instead. `fail` continues after a
   * failure or a timeout.
   */
  protected timed<A, E, R>(
    call: Call<A, E, R>,
    ticket: Admission,
    attempt: number,
    now: number | undefined,
    interruptible: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>,
    fail: (
      cause: Cause.Cause<E>,
      ctx: AttemptContext
    ) => Effect.Effect<any, E | CircuitOpenError | CircuitTimeoutError, R>
  ): Effect.Effect<any, E | CircuitOpenError | CircuitTimeoutError, R> {
    if (hasChildren(call.fiber)) {
      const ctx: { timedOut: boolean } = { timedOut: false }
      const forked = withTimeoutForked(call.effect, call.clock, this.timeoutMillis, this.deadlines(call.clock), ctx)
      return Effect.matchCauseEffect(interruptible(forked), {
        onSuccess: (value) => (ctx.timedOut ? fail(Cause.empty, ctx) : this.succeeded(call, value, ticket, attempt)),
        onFailure: (cause) => fail(cause, ctx)
      })
    }
    const timer = new AttemptTimer(call.fiber).start(call.clock, this.timeoutMillis, this.deadlines(call.clock), now)
    return Effect.matchCauseEffect(interruptible(call.effect), {
      onSuccess: (value) => {
        timer.cancel()
        if (!timer.timedOut && !hasChildren(call.fiber)) return this.succeeded(call, value, ticket, attempt)
        // Finished after its timeout (an uninterruptible part ran on): a timeout, as with `Effect.timeout`.
        return endTimed(timer, call.fiber, undefined, (ctx) =>
          ctx.timedOut ? fail(Cause.empty, ctx) : this.succeeded(call, value, ticket, attempt)
        )
      },
      onFailure: (cause) => {
        timer.cancel()
        if (timer.interruptor === undefined && !hasChildren(call.fiber)) return fail(cause, NOT_TIMED)
        return endTimed(timer, call.fiber, cause, (ctx) => fail(cause, ctx))
      }
    })
  }

  /** Continues after a masked attempt: a retryable failure retries, outside the mask. */
  protected settle<A, E, R>(
    call: Call<A, E, R>,
    attempt: number,
    masked: Effect.Effect<unknown, E | CircuitOpenError | CircuitTimeoutError, R>
  ): Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError, R> {
    return Effect.flatMap(masked, (result) =>
      result instanceof FailedAttempt ? this.retryOrFail(call, attempt, result) : Effect.succeed(result as A)
    )
  }

  protected attemptMasked<A, E, R>(
    call: Call<A, E, R>,
    attempt: number,
    lastFailure: Cause.Cause<E | CircuitTimeoutError> | undefined
  ): Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError, R> {
    return this.settle(
      call,
      attempt,
      Effect.uninterruptibleMask((restore) =>
        andThen(
          this.apply((s) => State.admit(this.policy, s, clockNow(call.clock)), undefined, true),
          ({ value: decision }) => this.admitted(call, decision, attempt, lastFailure, restore)
        )
      )
    )
  }

  /**
   * Runs an admitted attempt and records its outcome. Inside `attemptMasked` (`restore`
   * given) a retryable failure is handed back as a `FailedAttempt`, so that the retry
   * delay runs outside the uninterruptible region; otherwise it retries directly.
   */
  protected admitted<A, E, R>(
    call: Call<A, E, R>,
    decision: State.Decision,
    attempt: number,
    lastFailure: Cause.Cause<E | CircuitTimeoutError> | undefined,
    restore: Restore | undefined
  ): Effect.Effect<any, E | CircuitOpenError | CircuitTimeoutError, R> {
    if (decision._tag === "Reject") {
      this.endCall(call, callPolicy.onRejected(call.last))
      if (lastFailure !== undefined) {
        // The circuit opened while this call was retrying: it ends with the service's last error.
        return Effect.failCause(lastFailure)
      }
      if (this.eventSubscribers > 0) this.emit({ _tag: "Rejected", circuit: this.name, attempt })
      return Effect.fail(new CircuitOpenError({ circuit: this.name, retryAfter: Duration.millis(decision.retryAfter) }))
    }
    if (attempt > 1) this.countRetry(call, attempt)
    const ticket = decision
    if (restore === undefined || this.timeoutMillis === 0) return this.untimed(call, ticket, attempt, restore)
    // Under the mask (a trial, or a caller's uninterruptible region): a retryable failure goes
    // back to `settle`, which retries outside it; `restore` reopens the caller's interruptibility.
    return this.timed(call, ticket, attempt, undefined, restore, (cause, ctx) =>
      this.failed(call, cause, ticket, ctx, attempt)
    )
  }

  /**
   * The one untimed path. Outside any mask (no `restore`) a retryable failure retries
   * directly; under one, it goes back to `settle`, which retries outside the mask, and
   * `restore` reopens the caller's interruptibility around the effect. Both handlers share
   * one closure context: this runs once per attempt.
   */
  protected untimed<A, E, R>(
    call: Call<A, E, R>,
    ticket: Admission,
    attempt: number,
    restore: Restore | undefined
  ): Effect.Effect<any, E | CircuitOpenError | CircuitTimeoutError, R> {
    return Effect.matchCauseEffect(restore === undefined ? call.effect : restore(call.effect), {
      onSuccess: (value) => this.succeeded(call, value, ticket, attempt),
      onFailure: (cause): Effect.Effect<unknown, E | CircuitOpenError | CircuitTimeoutError, R> => {
        const failed = this.failed(call, cause, ticket, NOT_TIMED, attempt)
        return restore === undefined ? Effect.flatMap(failed, (f) => this.retryOrFail(call, attempt, f)) : failed
      }
    })
  }

  protected retryOrFail<A, E, R>(
    call: Call<A, E, R>,
    attempt: number,
    failed: FailedAttempt<E | CircuitTimeoutError>
  ): Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError, R> {
    const cause = failed.cause
    const fail = () => {
      this.endCall(call, callPolicy.onRejected(call.last))
      return Effect.failCause(cause)
    }
    const schedule = this.schedule
    if (schedule === undefined) return fail()
    const input = Option.getOrUndefined(Cause.failureOption(cause))
    const next = (driver: Schedule.ScheduleDriver<unknown, unknown>) => {
      call.driver = driver
      return Effect.matchEffect(driver.next(input), {
        onFailure: fail,
        onSuccess: () => this.attempt(call, attempt + 1, cause)
      })
    }
    return call.driver === undefined ? Effect.flatMap(Schedule.driver(schedule), next) : next(call.driver)
  }
}
