import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import type * as CP from "../CallPolicy.js"
import type * as CB from "../CircuitBreaker.js"
import { CircuitTimeoutError } from "../CircuitBreakerError.js"
import type { Store } from "../CircuitBreakerStore.js"
import { type AttemptContext, callerInterrupted, clockNow } from "./attemptTimer.js"
import * as callPolicy from "./callPolicy.js"
import type { MetricsRecorder } from "./metricsRecorder.js"
import { type Admission, type Policy, StateCell } from "./stateCell.js"

/** A failed attempt that may still be retried. */
export class FailedAttempt<E> {
  constructor(readonly cause: Cause.Cause<E>) {}
}

/** One call through the breaker, across its attempts. */
export interface Call<A, E, R> {
  readonly effect: Effect.Effect<A, E, R>
  /** The caller's fiber, where the attempts run. */
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  /** Whether the caller's region was interruptible. */
  readonly interruptible: boolean
  readonly clock: Clock.Clock
  /** When the call began (`clockNow`). */
  readonly started: number
  /** When its current attempt began. */
  attemptStarted: number
  /** The outcome of its last attempt, once one ended. */
  last: CP.Outcome | undefined
  driver: Schedule.ScheduleDriver<unknown, unknown> | undefined
}

/** The arguments an Effect call hands the call policy: none. */
const NO_ARGS: ReadonlyArray<unknown> = []

/**
 * The outcomes of an Effect attempt: classified by the call policy, recorded in the state
 * cell, published as events and counted in the metrics.
 *
 * @internal
 */
export abstract class AttemptOutcomes extends StateCell {
  protected readonly timeoutMillis: number
  protected readonly callPolicy: CP.CallPolicy

  constructor(
    readonly options: CB.CircuitBreaker.Resolved,
    policy: Policy,
    store: Store,
    recorder: MetricsRecorder | undefined,
    createdAt: number
  ) {
    super(options.name, policy, store, recorder, createdAt)
    this.timeoutMillis = Duration.isFinite(options.timeout) ? Duration.toMillis(options.timeout) : 0
    this.callPolicy = callPolicy.fromOptions(options)
    this.slowMs = options.policies.window?.thresholds.slowCallDurationThreshold
  }

  protected elapsed(call: Call<any, any, any>, now = clockNow(call.clock)): number {
    return now - call.started
  }

  /** Counted once admitted: a retry the open circuit refuses never ran. */
  protected countRetry(call: Call<any, any, any>, attempt: number): void {
    call.attemptStarted = clockNow(call.clock)
    this.counting?.retry()
    if (this.eventSubscribers > 0) this.emit({ _tag: "Retry", circuit: this.name, attempt })
  }

  protected succeeded<A>(call: Call<A, any, any>, value: A, ticket: Admission, attempt: number): Effect.Effect<A> {
    const now = clockNow(call.clock)
    const latency = now - call.attemptStarted
    const outcome = callPolicy.succeeded(this.callPolicy, value, latency, NO_ARGS)
    if (this.eventSubscribers > 0) this.emitOutcome(outcome, attempt, latency, undefined)
    callPolicy.record(this.counting, callPolicy.ending(outcome), now - call.started)
    const announced = this.record(outcome.event, ticket, now, undefined, latency)
    return announced === undefined ? Effect.succeed(value) : Effect.as(announced, value)
  }

  /** Records a failed attempt; fails at once when the failure must not be retried. */
  protected failed<E>(
    call: Call<any, E, any>,
    cause: Cause.Cause<E>,
    ticket: Admission,
    ctx: AttemptContext,
    attempt: number
  ): Effect.Effect<FailedAttempt<E | CircuitTimeoutError>, E> {
    const now = clockNow(call.clock)
    const duration = now - call.attemptStarted
    if (ctx.timedOut) {
      const error = new CircuitTimeoutError({ circuit: this.name, timeout: this.options.timeout, attempt })
      return this.failedWith(call, callPolicy.timedOut(this.callPolicy, duration), Cause.fail(error), error, ticket, {
        now,
        attempt
      })
    }
    if (Cause.isInterruptedOnly(cause) || callerInterrupted(call.fiber)) {
      // Cancelled by the caller, whatever the effect did meanwhile (an uninterruptible part may
      // have failed after the interruption): neither a success nor a failure.
      return this.afterRecord(this.record("Interrupted", ticket, now, undefined, duration), () =>
        Effect.failCause(cause)
      )
    }
    const failure = Cause.failureOption(cause)
    const error = Option.isSome(failure) ? failure.value : Cause.squash(cause)
    const outcome = Option.isSome(failure)
      ? callPolicy.failed(this.callPolicy, error, duration, NO_ARGS)
      : callPolicy.defect(this.callPolicy, error, duration)
    return this.failedWith(call, outcome, cause, error, ticket, { now, attempt })
  }

  /** Publishes and records a classified failed attempt, and says whether the call may retry. */
  protected failedWith<E>(
    call: Call<any, E, any>,
    outcome: CP.Outcome,
    cause: Cause.Cause<E | CircuitTimeoutError>,
    error: unknown,
    ticket: Admission,
    at: { readonly now: number; readonly attempt: number }
  ): Effect.Effect<FailedAttempt<E | CircuitTimeoutError>, E> {
    const { attempt, now } = at
    if (outcome.verdict === "failure") this.counting?.failedAttempt(error, now, attempt)
    if (this.eventSubscribers > 0) this.emitOutcome(outcome, attempt, now - call.attemptStarted, error)
    const recorded = this.record(
      outcome.event,
      ticket,
      now,
      outcome.verdict === "failure" ? error : undefined,
      now - call.attemptStarted,
      callPolicy.retryAfter(this.callPolicy, outcome, error)
    )
    if (outcome.invalid !== undefined) {
      // isFailure answered something else than true, false or "ignore": a bug in the options.
      return this.afterRecord(recorded, () => Effect.die(outcome.invalid))
    }
    call.last = outcome
    return this.afterRecord(recorded, (state) => {
      if (callPolicy.isFinal(outcome, state)) {
        this.endCall(call, callPolicy.ending(outcome))
        return Effect.failCause(cause) as Effect.Effect<never, E>
      }
      return Effect.succeed(new FailedAttempt<E | CircuitTimeoutError>(cause))
    })
  }

  /** The metric update of a call that ends. */
  protected endCall(call: Call<any, any, any>, ending: CP.Ending): void {
    callPolicy.record(this.counting, ending, this.elapsed(call))
  }

  /** Call sites check `eventSubscribers` first. */
  protected emitOutcome(outcome: CP.Outcome, attempt: number, latency: number, error: unknown): void {
    const circuit = this.name
    switch (outcome.report) {
      case "success":
        this.emit({ _tag: "Success", circuit, attempt, latency })
        break
      case "failure":
        this.emit({ _tag: "Failure", circuit, attempt, latency, error })
        break
      case "timeout":
        this.emit({ _tag: "Timeout", circuit, attempt, latency, error: error as CircuitTimeoutError })
        break
      case "ignored":
        this.emit({ _tag: "Ignored", circuit, attempt, latency, error })
        break
    }
  }
}
