import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import { Clock as ClockTag } from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Equal from "effect/Equal"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import * as HashSet from "effect/HashSet"
import { format, NodeInspectSymbol } from "effect/Inspectable"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as PubSub from "effect/PubSub"
import * as Runtime from "effect/Runtime"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { Bulkhead } from "../Bulkhead.js"
import type * as CP from "../CallPolicy.js"
import type * as CB from "../CircuitBreaker.js"
import {
  type BulkheadRejectedError,
  CircuitBreakerConfigError,
  CircuitOpenError,
  CircuitTimeoutError
} from "../CircuitBreakerError.js"
import type { CircuitMetrics, StateName } from "../CircuitBreakerMetrics.js"
import * as Metrics from "../CircuitBreakerMetrics.js"
import * as State from "../CircuitBreakerState.js"
import { CircuitBreakerStore, type Store } from "../CircuitBreakerStore.js"
import { Deadline, Deadlines } from "../Deadlines.js"
import * as bulkheads from "./bulkhead.js"
import * as callPolicy from "./callPolicy.js"
import { succeededLeavesClosed } from "./circuitBreakerState.js"
import { makePrivateMemory } from "./circuitBreakerStore.js"
import * as LiveCircuits from "./liveCircuits.js"
import { countOutcome, liveMetrics } from "./liveMetrics.js"
import { type LiveMetrics, MetricsRecorder } from "./metricsRecorder.js"
import * as options_ from "./options.js"
import { invalidMode } from "./policyOptions.js"

/** @internal */
export const TypeId: CB.TypeId = Symbol.for("@circuit-breaker/core/CircuitBreaker") as CB.TypeId

const liveClock = Context.get(DefaultServices.liveServices, ClockTag)
/** Read once: `performance.timeOrigin` is a getter that allocates a number on every read. */
const timeOrigin = performance.timeOrigin
const liveNow = (): number => timeOrigin + performance.now()

type Policy = State.Policy<any>
type CircuitState = State.CircuitState<unknown>

/** The outcome of one modify: what the caller needs, plus the change it caused, if any. */
class Applied<A> {
  constructor(
    readonly value: A,
    readonly state: CircuitState,
    readonly change: CB.StateChange | undefined
  ) {}
}

/** A failed attempt that may still be retried. */
class FailedAttempt<E> {
  constructor(readonly cause: Cause.Cause<E>) {}
}

/**
 * One attempt's timeout, and what happened when it fired. On the live clock it is a node
 * of the breaker's `Deadlines` (one Node timer serves every attempt, and no closure is
 * made per attempt); on a test clock, a sleeper fiber that the clock's adjustments wake.
 */
class AttemptTimer extends Deadline {
  timedOut = false
  /** The interruptor the timer used, once it fired. */
  interruptor: FiberId.FiberId | undefined = undefined
  private settled = false
  private list: Deadlines | undefined = undefined
  private sleeper: Fiber.RuntimeFiber<void> | undefined = undefined

  constructor(private readonly target: Fiber.RuntimeFiber<unknown, unknown>) {
    super()
  }

  /**
   * Starts the timer: on the live clock a deadline in the breaker's list, `millis` after
   * `now` (when the attempt began, if the caller read the clock already); on another clock,
   * a sleep of `millis` from the current time.
   */
  start(clock: Clock.Clock, millis: number, deadlines: Deadlines, now?: number): this {
    if (clock === liveClock) {
      this.at = (now ?? clockNow(clock)) + millis
      deadlines.insert(this)
      this.list = deadlines
    } else {
      this.sleeper = Effect.runFork(
        Effect.zipRight(
          clock.sleep(Duration.millis(millis)),
          Effect.sync(() => this.expire())
        )
      )
    }
    return this
  }

  /** Interrupts the target, once, and never after `cancel`. */
  expire(): void {
    if (this.settled) return
    this.settled = true
    this.timedOut = true
    this.interruptor = FiberId.make(nextInterruptorId++, 0)
    this.target.unsafeInterruptAsFork(this.interruptor)
  }

  cancel(): void {
    this.settled = true
    if (this.list !== undefined) this.list.remove(this)
    else this.sleeper?.unsafeInterruptAsFork(FiberId.none)
  }
}

let nextInterruptorId = 1

/** What `failed` needs to know of an attempt's timeout. */
type AttemptContext = Pick<AttemptTimer, "timedOut">

const NOT_BUILT: unique symbol = Symbol("NotBuilt")

/** The context of an attempt that has no timer. */
const NOT_TIMED: AttemptContext = { timedOut: false }

/** An admission decision: it identifies the state an admitted call belongs to (its ticket). */
type Admission = Exclude<State.Decision, { readonly _tag: "Reject" }>

/** The announcement of a change of state (it yields the new state), or `undefined` when nothing changed. */
type Announced = Effect.Effect<CircuitState> | undefined

/** A value now, or an Effect that produces it: lets the in-memory store stay synchronous. */
type Step<A> = A | Effect.Effect<A>

const andThen = <A, B, E, R>(
  step: Step<Applied<A>>,
  f: (a: Applied<A>) => Effect.Effect<B, E, R>
): Effect.Effect<B, E, R> => (step instanceof Applied ? f(step) : Effect.flatMap(step, f))

class CircuitBreakerImpl implements CB.CircuitBreaker {
  readonly [TypeId]: CB.TypeId = TypeId
  readonly name: string
  private readonly initialState: CircuitState
  private readonly timeoutMillis: number
  private readonly callPolicy: CP.CallPolicy
  private eventSubscribers = 0
  /** Made for the first subscriber: an idle breaker holds no buffer. */
  private changesHub: PubSub.PubSub<CB.StateChange> | undefined
  private eventsHub: PubSub.PubSub<CB.CallEvent> | undefined
  /** The last state the store confirmed: the fallback when the store cannot be reached. */
  private lastKnown: CircuitState
  private deadlineList: Deadlines | undefined = undefined
  private scheduleMemo: Schedule.Schedule<unknown, unknown> | undefined | typeof NOT_BUILT = NOT_BUILT
  /** With `maxConcurrent`: every call takes a slot for its whole run, retries included. */
  private readonly bulkhead: Bulkhead | undefined
  /** With a slow-call rule: an attempt longer than this is slow. */
  private readonly slowMs: number | undefined

  constructor(
    readonly options: CB.CircuitBreaker.Resolved,
    readonly policy: Policy,
    private readonly store: Store,
    private readonly recorder: MetricsRecorder | undefined,
    createdAt: number
  ) {
    this.name = options.name
    this.initialState = State.initial(policy, createdAt)
    this.lastKnown = this.initialState
    this.timeoutMillis = Duration.isFinite(options.timeout) ? Duration.toMillis(options.timeout) : 0
    this.callPolicy = callPolicy.fromOptions(options)
    this.slowMs = options.policies.window?.thresholds.slowCallDurationThreshold
    const bulkhead = options.policies.bulkhead
    this.bulkhead =
      bulkhead === undefined ? undefined : bulkheads.fromPolicy(this.name, bulkhead, () => recorder?.bulkheadRejected())
    LiveCircuits.register(this, recorder)
  }

  // --- state ---------------------------------------------------------------------

  /**
   * Applies the pure `f` to the stored state atomically, and announces the change of
   * state it made. Synchronous when the store allows it.
   */
  private apply<A>(
    f: (state: CircuitState) => readonly [A, CircuitState],
    cause?: unknown,
    authoritative = false
  ): Step<Applied<A>> {
    let applied: Applied<A> | undefined
    const step = (current: State.CircuitState<unknown>): readonly [A, State.CircuitState<unknown>] => {
      const [value, next] = f(current as CircuitState)
      // Compared with what this breaker saw last, so that a change made elsewhere (another
      // breaker on the same circuit, another process) is reported here too.
      const previous = this.lastKnown
      applied = new Applied(
        value,
        next,
        next._tag === previous._tag
          ? undefined
          : { circuit: this.name, from: previous._tag, to: next._tag, at: next.since, cause }
      )
      return [value, next]
    }
    const committed = (): Step<Applied<A>> => {
      this.lastKnown = applied!.state
      return applied!.change === undefined ? applied! : Effect.as(this.announce(applied!.change), applied!)
    }
    // A trial's admission is authoritative: a shared store must see it at
    // once (the Half-Open limit holds across processes). Everything else may be decided on
    // the store's local view, synchronously.
    if (!authoritative && this.store.unsafeModify !== undefined) {
      this.store.unsafeModify(this.name, this.initialState, step)
      return committed()
    }
    return Effect.matchCauseEffect(this.store.modify(this.name, this.initialState, step), {
      onFailure: (storeCause) => {
        // The store cannot be reached. Its trouble is never the service's failure, and the
        // call must not wait for it: decide on the store's local view, or on the last state
        // this breaker saw.
        let value: A
        let next: CircuitState
        if (this.store.unsafeModify !== undefined) {
          this.store.unsafeModify(this.name, this.initialState, step)
          value = applied!.value
          next = applied!.state
        } else {
          ;[value, next] = f(this.lastKnown)
        }
        this.lastKnown = next
        return Effect.as(
          Effect.logWarning("circuit store unavailable; deciding on local state", storeCause).pipe(
            Effect.annotateLogs({ circuit: this.name })
          ),
          new Applied(value, next, undefined)
        )
      },
      onSuccess: () => {
        const result = committed()
        return result instanceof Applied ? Effect.succeed(result) : result
      }
    })
  }

  private announce(change: CB.StateChange): Effect.Effect<void> {
    this.recorder?.state(change.to)
    this.changesHub?.unsafeOffer(change)
    return Effect.logInfo(`circuit ${change.from} -> ${change.to}`).pipe(
      Effect.annotateLogs({ circuit: this.name, from: change.from, to: change.to })
    )
  }

  /** The retry Schedule, built at the first failure: an idle breaker holds none (one costs about 2 KB). */
  private get schedule(): Schedule.Schedule<unknown, unknown> | undefined {
    if (this.scheduleMemo === NOT_BUILT) this.scheduleMemo = options_.retrySchedule(this.options)
    return this.scheduleMemo
  }

  /** The attempts' timeouts on the live clock; made for the first timed attempt. */
  private deadlines(): Deadlines {
    return (this.deadlineList ??= new Deadlines(liveNow))
  }

  /** Announces a change of state made elsewhere (another breaker, another process) and seen now. */
  private observed(current: CircuitState, cause?: unknown): Announced {
    const previous = this.lastKnown
    this.lastKnown = current
    if (current._tag === previous._tag) return undefined
    return Effect.as(
      this.announce({ circuit: this.name, from: previous._tag, to: current._tag, at: current.since, cause }),
      current
    )
  }

  /** Records an attempt's outcome, then counts a slow call and the window's rates. */
  private record(
    tag: "Succeeded" | "Failed" | "TimedOut" | "Interrupted",
    ticket: Admission,
    now: number,
    cause?: unknown,
    durationMs?: number,
    retryAfter?: number
  ): Announced {
    const announced = this.recordState(tag, ticket, now, cause, durationMs, retryAfter)
    if (tag !== "Interrupted") countOutcome(this.counting, this.policy, this.lastKnown, durationMs, this.slowMs)
    return announced
  }

  /** Records an attempt's outcome: how long it took (for slow calls) and a `Retry-After` the service gave. */
  private recordState(
    tag: "Succeeded" | "Failed" | "TimedOut" | "Interrupted",
    ticket: Admission,
    now: number,
    cause?: unknown,
    durationMs?: number,
    retryAfter?: number
  ): Announced {
    const generation = ticket.generation
    const trial = ticket._tag === "AdmitTrial"
    const store = this.store
    const closedSuccess = tag === "Succeeded" && !trial
    // Most outcomes change nothing (a success with no failures counted): no event, no modify then.
    const current = store.unsafeGet?.(this.name, this.initialState) as CircuitState | undefined
    const onClosed = closedSuccess && current?._tag === "Closed"
    if (onClosed && succeededLeavesClosed(this.policy, current!, generation, now)) return this.observed(current!, cause)
    const event: State.CircuitEvent =
      tag === "Failed"
        ? { _tag: tag, now, generation, trial, durationMs, retryAfter }
        : { _tag: tag, now, generation, trial, durationMs }
    if (current !== undefined && !onClosed && State.transition(this.policy, current, event) === current) {
      return this.observed(current, cause)
    }
    const applied = this.apply((s) => [undefined, State.transition(this.policy, s, event)], cause)
    return applied instanceof Applied ? undefined : Effect.map(applied, (a) => a.state)
  }

  /** Continues with the state after `announced`: this breaker's last known state. */
  private afterRecord<B, E, R>(
    announced: Announced,
    f: (state: CircuitState) => Effect.Effect<B, E, R>
  ): Effect.Effect<B, E, R> {
    return announced === undefined ? f(this.lastKnown) : Effect.flatMap(announced, f)
  }

  private update(event: (now: number) => State.CircuitEvent): Effect.Effect<CircuitState> {
    return Effect.clockWith((clock) => {
      const e = event(clockNow(clock))
      return andThen(
        this.apply((s) => {
          const next = State.transition(this.policy, s, e)
          return [next, next]
        }),
        (applied) => Effect.succeed(applied.value)
      )
    })
  }

  /** The recorder, unless the circuit is `disabled` (which records nothing). */
  private get counting(): MetricsRecorder | undefined {
    return this.lastKnown.mode === "disabled" ? undefined : this.recorder
  }

  setMode(mode: State.Mode): Effect.Effect<void, CircuitBreakerConfigError> {
    const invalid = invalidMode(mode)
    if (invalid !== undefined) return Effect.fail(invalid)
    return Effect.asVoid(this.update((now) => ({ _tag: "ModeChanged", now, mode })))
  }

  get mode(): Effect.Effect<State.Mode> {
    return Effect.map(this.state, State.modeOf)
  }

  get state(): Effect.Effect<CircuitState> {
    return this.update((now) => ({ _tag: "Elapsed", now }))
  }

  get metrics(): Effect.Effect<CircuitMetrics> {
    return Effect.clockWith((clock) =>
      Effect.map(this.state, (state) => this.snapshot(state._tag, liveMetrics(this.policy, state, clockNow(clock))))
    )
  }

  /** @internal */
  snapshot(state: StateName, live?: LiveMetrics): CircuitMetrics {
    return this.recorder?.snapshot(state, live) ?? { ...Metrics.empty(this.name, state), ...live }
  }

  pipe() {
    // biome-ignore lint/complexity/noArguments: Effect's pipeArguments takes the call's arguments
    return pipeArguments(this, arguments)
  }

  /** The name, the last state this breaker saw, and its counters: no internals, no store. */
  toJSON(): CB.CircuitBreaker.Json {
    const state = this.lastKnown._tag
    return { _id: "CircuitBreaker", name: this.name, state, metrics: this.snapshot(state) }
  }

  toString(): string {
    return format(this.toJSON())
  }

  [NodeInspectSymbol](): unknown {
    return this.toJSON()
  }

  get reset(): Effect.Effect<void> {
    return Effect.asVoid(this.update((now) => ({ _tag: "Reset", now })))
  }

  get trip(): Effect.Effect<void> {
    return Effect.asVoid(this.update((now) => ({ _tag: "Tripped", now })))
  }

  get changes(): Stream.Stream<CB.StateChange> {
    return Stream.unwrap(
      Effect.suspend(() =>
        this.changesHub !== undefined
          ? Effect.succeed(Stream.fromPubSub(this.changesHub))
          : Effect.map(PubSub.sliding<CB.StateChange>(1024), (hub) => Stream.fromPubSub((this.changesHub ??= hub)))
      )
    )
  }

  get events(): Stream.Stream<CB.CallEvent> {
    return Stream.unwrapScoped(
      Effect.as(
        Effect.acquireRelease(
          Effect.sync(() => this.eventSubscribers++),
          () => Effect.sync(() => this.eventSubscribers--)
        ),
        Stream.unwrap(
          Effect.suspend(() =>
            this.eventsHub !== undefined
              ? Effect.succeed(Stream.fromPubSub(this.eventsHub))
              : Effect.map(PubSub.sliding<CB.CallEvent>(1024), (hub) => Stream.fromPubSub((this.eventsHub ??= hub)))
          )
        )
      )
    )
  }

  /** Call sites check `eventSubscribers` first, so that no event is built when nobody listens. */
  private emit(event: CB.CallEvent): void {
    this.eventsHub?.unsafeOffer(event)
  }

  // --- execution -----------------------------------------------------------------

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
      const call: Call<A, E, R> = {
        effect,
        fiber,
        interruptible: RuntimeFlags.interruption(status.runtimeFlags),
        clock,
        started: clockNow(clock),
        attemptStarted: 0,
        last: undefined,
        driver: undefined
      }
      call.attemptStarted = call.started
      // The common case, kept short: a Closed circuit admits the call, with nothing to write or announce.
      const generation = this.closedGeneration()
      return generation >= 0
        ? this.run(call, { _tag: "Admit", generation }, 1, undefined, call.started)
        : this.attempt(call, 1, undefined)
    })
  }

  /**
   * The generation of the circuit when the store's local view shows it Closed, as this
   * breaker last saw it (a call is admitted, and there is no change to announce); -1 otherwise.
   */
  private closedGeneration(): number {
    const store = this.store
    if (store.unsafeGet === undefined || store.unsafeModify === undefined || this.lastKnown._tag !== "Closed") return -1
    const current = store.unsafeGet(this.name, this.initialState) as CircuitState
    if (current._tag !== "Closed") return -1
    this.lastKnown = current
    return current.generation
  }

  private elapsed(call: Call<any, any, any>, now = clockNow(call.clock)): number {
    return now - call.started
  }

  private attempt<A, E, R>(
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
  private run<A, E, R>(
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
  private timedInCallersFiber<A, E, R>(
    call: Call<A, E, R>,
    ticket: Admission,
    attempt: number,
    now: number
  ): Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError, R> {
    if (attempt > 1) this.countRetry(call, attempt)
    return Effect.uninterruptible(
      this.runTimed(call, ticket, attempt, now, Effect.interruptible, (cause, ctx) =>
        Effect.interruptible(
          Effect.flatMap(this.failed(call, cause, ticket, ctx, attempt), (f) => this.retryOrFail(call, attempt, f))
        )
      )
    )
  }

  /**
   * Runs a timed attempt in the caller's fiber, inside an uninterruptible region that
   * `interruptible` opens for the effect (the timer's interruption reaches the effect, and
   * the handlers run). `fail` continues after a failure or a timeout.
   */
  private runTimed<A, E, R>(
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
    const timer = new AttemptTimer(call.fiber).start(call.clock, this.timeoutMillis, this.deadlines(), now)
    return Effect.matchCauseEffect(interruptible(call.effect), {
      onSuccess: (value) => {
        timer.cancel()
        if (!timer.timedOut && !hasChildren(call.fiber)) return this.succeeded(call, value, ticket, attempt)
        // Finished after its timeout (an uninterruptible part ran on): a timeout, as with `Effect.timeout`.
        return this.endTimed(timer, call.fiber, undefined, (ctx) =>
          ctx.timedOut ? fail(Cause.empty, ctx) : this.succeeded(call, value, ticket, attempt)
        )
      },
      onFailure: (cause) => {
        timer.cancel()
        if (timer.interruptor === undefined && !hasChildren(call.fiber)) return fail(cause, NOT_TIMED)
        return this.endTimed(timer, call.fiber, cause, (ctx) => fail(cause, ctx))
      }
    })
  }

  /**
   * The end of a timed attempt that ran in the caller's fiber, when its timer fired or it
   * forked fibers: the timer's interruptor is taken back, the fibers the attempt forked
   * (children of the caller's fiber now, which had none before) are interrupted and awaited,
   * as a forked attempt's children would be, and then `next` runs. A timer that fired while
   * the caller was being interrupted from elsewhere (the attempt's finalizers ran past the
   * deadline) did not time the attempt out: it was interrupted.
   */
  private endTimed<X, E2, R2>(
    timer: AttemptTimer,
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    cause: Cause.Cause<unknown> | undefined,
    next: (ctx: AttemptContext) => Effect.Effect<X, E2, R2>
  ): Effect.Effect<X, E2, R2> {
    const interruptor = timer.interruptor
    const timedOut =
      timer.timedOut && (cause === undefined || interruptor === undefined || !interruptedElsewhere(cause, interruptor))
    let before: Effect.Effect<void> | undefined =
      interruptor === undefined ? undefined : withdrawInterruptor(interruptor)
    const children = childrenOf(fiber)
    if (children !== undefined) {
      before =
        before === undefined ? Fiber.interruptAll(children) : Effect.zipRight(before, Fiber.interruptAll(children))
    }
    const ctx = timedOut ? timer : NOT_TIMED
    return before === undefined
      ? next(ctx)
      : Effect.zipRight(
          before,
          Effect.suspend(() => next(ctx))
        )
  }

  /** Continues after a masked attempt: a retryable failure retries, outside the mask. */
  private settle<A, E, R>(
    call: Call<A, E, R>,
    attempt: number,
    masked: Effect.Effect<unknown, E | CircuitOpenError | CircuitTimeoutError, R>
  ): Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError, R> {
    return Effect.flatMap(masked, (result) =>
      result instanceof FailedAttempt ? this.retryOrFail(call, attempt, result) : Effect.succeed(result as A)
    )
  }

  private attemptMasked<A, E, R>(
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
  private admitted<A, E, R>(
    call: Call<A, E, R>,
    decision: State.Decision,
    attempt: number,
    lastFailure: Cause.Cause<E | CircuitTimeoutError> | undefined,
    restore: (<X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>) | undefined
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
    if (restore === undefined) {
      // Untimed, outside any mask: a retryable failure retries directly.
      return Effect.matchCauseEffect(call.effect, {
        onSuccess: (value) => this.succeeded(call, value, ticket, attempt),
        onFailure: (cause) =>
          Effect.flatMap(this.failed(call, cause, ticket, NOT_TIMED, attempt), (f) =>
            this.retryOrFail(call, attempt, f)
          )
      })
    }
    if (this.timeoutMillis === 0) {
      return Effect.matchCauseEffect(restore(call.effect), {
        onSuccess: (value) => this.succeeded(call, value, ticket, attempt),
        onFailure: (cause) => this.failed(call, cause, ticket, NOT_TIMED, attempt)
      })
    }
    if (hasChildren(call.fiber)) {
      // Interrupting the caller's fiber would interrupt its children too: fork instead.
      const ctx: { timedOut: boolean } = { timedOut: false }
      return Effect.matchCauseEffect(restore(this.withTimeoutForked(call.effect, call, ctx)), {
        onSuccess: (value): Effect.Effect<unknown, E> =>
          ctx.timedOut
            ? this.failed(call, Cause.empty, ticket, ctx, attempt)
            : this.succeeded(call, value, ticket, attempt),
        onFailure: (cause) => this.failed(call, cause, ticket, ctx, attempt)
      })
    }
    // The caller's region is uninterruptible (or this is a trial, admitted under a mask): the
    // attempt runs in the caller's fiber as in `timedInCallersFiber`, `restore` reopening the
    // caller's own interruptibility, and a retryable failure goes back to `settle`.
    return this.runTimed(call, ticket, attempt, undefined, restore, (cause, ctx) =>
      this.failed(call, cause, ticket, ctx, attempt)
    )
  }

  /** Counted once admitted: a retry the open circuit refuses never ran. */
  private countRetry(call: Call<any, any, any>, attempt: number): void {
    call.attemptStarted = clockNow(call.clock)
    this.counting?.retry()
    if (this.eventSubscribers > 0) this.emit({ _tag: "Retry", circuit: this.name, attempt })
  }

  private succeeded<A>(call: Call<A, any, any>, value: A, ticket: Admission, attempt: number): Effect.Effect<A> {
    const now = clockNow(call.clock)
    const latency = now - call.attemptStarted
    const outcome = callPolicy.succeeded(this.callPolicy, value, latency, NO_ARGS)
    if (this.eventSubscribers > 0) this.emitOutcome(outcome, attempt, latency, undefined)
    callPolicy.record(this.counting, callPolicy.ending(outcome), now - call.started)
    const announced = this.record(outcome.event, ticket, now, undefined, latency)
    return announced === undefined ? Effect.succeed(value) : Effect.as(announced, value)
  }

  /** Records a failed attempt; fails at once when the failure must not be retried. */
  private failed<E>(
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
    if (Cause.isInterruptedOnly(cause) || (Cause.isInterrupted(cause) && callerInterrupted(call.fiber))) {
      // Cancelled by the caller, whatever the effect did meanwhile: neither a success nor a failure.
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
  private failedWith<E>(
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
  private endCall(call: Call<any, any, any>, ending: CP.Ending): void {
    callPolicy.record(this.counting, ending, this.elapsed(call))
  }

  /** Call sites check `eventSubscribers` first. */
  private emitOutcome(outcome: CP.Outcome, attempt: number, latency: number, error: unknown): void {
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

  private retryOrFail<A, E, R>(
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

  /**
   * Runs `effect` in a fiber of its own, interrupted when the timeout passes; the caller
   * waits for the interruption to finish, as with `Effect.timeout`. For callers whose
   * fiber has children, which an interruption of their own fiber would reach.
   */
  private withTimeoutForked<A, E, R>(
    effect: Effect.Effect<A, E, R>,
    call: Call<A, E, R>,
    ctx: { timedOut: boolean }
  ): Effect.Effect<A, E, R> {
    return Effect.withFiberRuntime<A, E, R>((parent, status) => {
      const runtime = Runtime.make({
        context: parent.currentContext as Context.Context<R>,
        runtimeFlags: status.runtimeFlags,
        fiberRefs: parent.getFiberRefs()
      })
      return Effect.async<A, E>((resume) => {
        const fiber = Runtime.runFork(runtime)(effect)
        const done = fiber.unsafePoll()
        if (done !== null) {
          resume(Effect.zipRight(Fiber.inheritAll(fiber), done))
          return
        }
        const timer = new AttemptTimer(fiber).start(call.clock, this.timeoutMillis, this.deadlines())
        fiber.addObserver((exit) => {
          timer.cancel()
          ctx.timedOut = timer.timedOut
          // As with `Effect.timeout` (a fork and a join), the caller inherits the FiberRef
          // changes the attempt made.
          resume(Effect.zipRight(Fiber.inheritAll(fiber), exit))
        })
        return Effect.suspend(() => {
          timer.cancel()
          return Fiber.interrupt(fiber)
        })
      })
    })
  }
}

/**
 * Whether the fiber has child fibers (forked and still running). Effect exposes this only
 * as an effect (`Fiber.children`); the runtime's own field is read here, and when it is not
 * there (another version of effect) the answer is "yes", the safe one.
 */
const hasChildren = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => {
  const children = childrenField(fiber)
  return children === undefined || (children !== null && children.size > 0)
}

/** The fibers the fiber has forked and that still run; `undefined` when none (or when it cannot tell). */
const childrenOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Array<Fiber.RuntimeFiber<any, any>> | undefined => {
  const children = childrenField(fiber)
  return children === undefined || children === null || children.size === 0 ? undefined : Array.from(children)
}

/** The runtime's own set of a fiber's children (`null` before the first fork), or `undefined` if it has none. */
const childrenField = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>
): ReadonlySet<Fiber.RuntimeFiber<any, any>> | null | undefined =>
  (fiber as unknown as { readonly _children?: ReadonlySet<Fiber.RuntimeFiber<any, any>> | null })._children

/** Whether `cause` was interrupted by some fiber other than `interruptor`. */
const interruptedElsewhere = (cause: Cause.Cause<unknown>, interruptor: FiberId.FiberId): boolean =>
  HashSet.some(Cause.interruptors(cause), (id) => !Equal.equals(id, interruptor))

/** Takes one interruptor off the current fiber's interruption, leaving any other in place. */
const withdrawInterruptor = (interruptor: FiberId.FiberId): Effect.Effect<void> =>
  FiberRef.update(FiberRef.interruptedCause, (cause) => {
    const interruptors = Cause.interruptors(cause)
    if (!HashSet.has(interruptors, interruptor)) return cause
    return HashSet.reduce(interruptors, Cause.empty as Cause.Cause<never>, (rest, id) =>
      Equal.equals(id, interruptor) ? rest : Cause.sequential(rest, Cause.interrupt(id))
    )
  })

/** One call through the breaker, across its attempts. */
interface Call<A, E, R> {
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

/** Whether the fiber is being interrupted (by its caller, or any fiber but a timer already accounted for). */
const callerInterrupted = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  !Cause.isEmpty(fiber.getFiberRef(FiberRef.interruptedCause))

/** @internal */
export const clockNow = (clock: Clock.Clock): number =>
  clock === liveClock ? liveNow() : clock.unsafeCurrentTimeMillis()

let lastServices: Context.Context<DefaultServices.DefaultServices> = DefaultServices.liveServices
let lastClock: Clock.Clock = liveClock

/** The fiber's Clock, remembered for the last services seen (they rarely change). */
const clockOf = (services: Context.Context<DefaultServices.DefaultServices>): Clock.Clock => {
  if (services !== lastServices) {
    lastServices = services
    lastClock = Context.get(services, ClockTag)
  }
  return lastClock
}

/** @internal */
export const make = (
  options?: CB.CircuitBreaker.Options
): Effect.Effect<CB.CircuitBreaker, CircuitBreakerConfigError> =>
  Effect.gen(function* () {
    const resolved = options_.resolve(options)
    if (Either.isLeft(resolved)) return yield* resolved.left
    const o = resolved.right
    const store = Option.getOrElse(yield* Effect.serviceOption(CircuitBreakerStore), makePrivateMemory)
    if (o.distributedTracking && !store.shared) {
      return yield* new CircuitBreakerConfigError({
        option: "distributedTracking",
        value: true,
        reason:
          "needs a shared store: provide a shared CircuitBreakerStore layer (for instance from @circuit-breaker/redis); the store in context is in-memory"
      })
    }
    const policy = options_.policyOf(o)
    const now = yield* Effect.clockWith((clock) => Effect.succeed(clockNow(clock)))
    const recorder = o.metricsTracking ? new MetricsRecorder(o.name, o.serviceId, o.failureHistorySize) : undefined
    return new CircuitBreakerImpl(o, policy, store, recorder, now)
  })

/** @internal */
export const withCircuitBreaker = dual<
  (
    breaker: CB.CircuitBreaker
  ) => <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError | BulkheadRejectedError, R>,
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    breaker: CB.CircuitBreaker
  ) => Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError | BulkheadRejectedError, R>
>(2, (self, breaker) => breaker.execute(self))

/** @internal */
export const isCircuitBreaker = (u: unknown): u is CB.CircuitBreaker =>
  typeof u === "object" && u !== null && TypeId in u
