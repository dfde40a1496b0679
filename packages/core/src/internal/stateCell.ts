import * as Effect from "effect/Effect"
import type * as PubSub from "effect/PubSub"
import type * as CB from "../CircuitBreaker.js"
import * as State from "../CircuitBreakerState.js"
import type { Store } from "../CircuitBreakerStore.js"
import { clockNow } from "./attemptTimer.js"
import { admitIn, succeededLeavesClosed } from "./circuitBreakerState.js"
import { countOutcome } from "./liveMetrics.js"
import type { MetricsRecorder } from "./metricsRecorder.js"

/** @internal */
export type Policy = State.Policy<any>
/** @internal */
export type CircuitState = State.CircuitState<unknown>

/** The outcome of one modify: what the caller needs, plus the change it caused, if any. */
export class Applied<A> {
  constructor(
    readonly value: A,
    readonly state: CircuitState,
    readonly change: CB.StateChange | undefined
  ) {}
}

/** An admission decision: it identifies the state an admitted call belongs to (its ticket). */
export type Admission = Exclude<State.Decision, { readonly _tag: "Reject" }>

/** The announcement of a change of state (it yields the new state), or `undefined` when nothing changed. */
export type Announced = Effect.Effect<CircuitState> | undefined

/** A value now, or an Effect that produces it: lets the in-memory store stay synchronous. */
export type Step<A> = A | Effect.Effect<A>

export const andThen = <A, B, E, R>(
  step: Step<Applied<A>>,
  f: (a: Applied<A>) => Effect.Effect<B, E, R>
): Effect.Effect<B, E, R> => (step instanceof Applied ? f(step) : Effect.flatMap(step, f))

/**
 * The breaker's state cell: the circuit's state in its store, applied through the pure state
 * machine, the last state this breaker saw, and the announcements of changes (state gauge,
 * `changes`, logs) and of call events (`events`).
 *
 * @internal
 */
export abstract class StateCell {
  readonly name: string
  protected readonly initialState: CircuitState
  /** The last state the store confirmed: the fallback when the store cannot be reached. */
  protected lastKnown: CircuitState
  protected eventSubscribers = 0
  /** Made for the first subscriber: an idle breaker holds no buffer. */
  protected changesHub: PubSub.PubSub<CB.StateChange> | undefined
  protected eventsHub: PubSub.PubSub<CB.CallEvent> | undefined

  constructor(
    name: string,
    readonly policy: Policy,
    protected readonly store: Store,
    protected readonly recorder: MetricsRecorder | undefined,
    createdAt: number
  ) {
    this.name = name
    this.initialState = State.initial(policy, createdAt)
    this.lastKnown = this.initialState
  }

  /**
   * Applies the pure `f` to the stored state atomically, and announces the change of
   * state it made. Synchronous when the store allows it.
   */
  protected apply<A>(
    f: (state: CircuitState) => readonly [A, CircuitState],
    cause?: unknown,
    authoritative = false,
    reason?: CB.StateChange["reason"]
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
        // A reset is always announced, even from Closed to Closed.
        next._tag === previous._tag && reason !== "reset"
          ? undefined
          : { circuit: this.name, from: previous._tag, to: next._tag, at: next.since, cause, reason }
      )
      return [value, next]
    }
    const committed = (): Step<Applied<A>> => {
      this.see(applied!.state)
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
        if (this.store.unsafeModify === undefined) return this.applyLocally(f(this.lastKnown), storeCause)
        this.store.unsafeModify(this.name, this.initialState, step)
        return this.applyLocally([applied!.value, applied!.state], storeCause)
      },
      onSuccess: () => {
        const result = committed()
        return result instanceof Applied ? Effect.succeed(result) : result
      }
    })
  }

  /**
   * The store cannot be reached. Its trouble is never the service's failure, and the call must
   * not wait for it: what was decided on the store's local view, or on the last state this
   * breaker saw, stands.
   */
  private applyLocally<A>([value, next]: readonly [A, CircuitState], storeCause: unknown): Effect.Effect<Applied<A>> {
    this.see(next)
    return Effect.as(
      Effect.logWarning("circuit store unavailable; deciding on local state", storeCause).pipe(
        Effect.annotateLogs({ circuit: this.name })
      ),
      new Applied(value, next, undefined)
    )
  }

  protected announce(change: CB.StateChange): Effect.Effect<void> {
    this.recorder?.state(change.to)
    this.changesHub?.unsafeOffer(change)
    return Effect.logInfo(`circuit ${change.from} -> ${change.to}`).pipe(
      Effect.annotateLogs({ circuit: this.name, from: change.from, to: change.to })
    )
  }

  /** Takes `next` as the state last seen; a change of mode moves the mode gauge. */
  private see(next: CircuitState): void {
    const previous = this.lastKnown
    this.lastKnown = next
    if (next.mode !== previous.mode) this.recorder?.mode(State.modeOf(previous), State.modeOf(next))
  }

  /** Announces a change of state made elsewhere (another breaker, another process) and seen now. */
  protected observed(current: CircuitState, cause?: unknown): Announced {
    const previous = this.lastKnown
    this.see(current)
    if (current._tag === previous._tag) return undefined
    return Effect.as(
      this.announce({
        circuit: this.name,
        from: previous._tag,
        to: current._tag,
        at: current.since,
        cause,
        reason: undefined
      }),
      current
    )
  }

  /** With a slow-call rule: an attempt longer than this is slow. */
  protected slowMs: number | undefined = undefined

  /** The recorder, unless the circuit is `disabled` (which records nothing). */
  protected get counting(): MetricsRecorder | undefined {
    return this.lastKnown.mode === "disabled" ? undefined : this.recorder
  }

  /** Records an attempt's outcome, then counts a slow call and the window's rates. */
  protected record(
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
    cause: unknown,
    durationMs: number | undefined,
    retryAfter: number | undefined
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
  protected afterRecord<B, E, R>(
    announced: Announced,
    f: (state: CircuitState) => Effect.Effect<B, E, R>
  ): Effect.Effect<B, E, R> {
    return announced === undefined ? f(this.lastKnown) : Effect.flatMap(announced, f)
  }

  protected update(
    event: (now: number) => State.CircuitEvent,
    reason?: CB.StateChange["reason"]
  ): Effect.Effect<CircuitState> {
    return Effect.clockWith((clock) => {
      const e = event(clockNow(clock))
      return andThen(
        this.apply(
          (s) => {
            const next = State.transition(this.policy, s, e)
            return [next, next]
          },
          undefined,
          reason !== undefined,
          reason
        ),
        (applied) => Effect.succeed(applied.value)
      )
    })
  }

  /**
   * The admission of a call when the store's local view shows the circuit Closed, as this
   * breaker last saw it (there is no change to announce); `undefined` otherwise.
   */
  protected admitClosed(): Admission | undefined {
    const store = this.store
    if (this.lastKnown._tag !== "Closed" || store.unsafeModify === undefined) return undefined
    const current = store.unsafeGet?.(this.name, this.initialState) as CircuitState | undefined
    if (current?._tag !== "Closed") return undefined
    this.see(current)
    return admitIn(current.generation)
  }

  /** Call sites check `eventSubscribers` first, so that no event is built when nobody listens. */
  protected emit(event: CB.CallEvent): void {
    this.eventsHub?.unsafeOffer(event)
  }
}
