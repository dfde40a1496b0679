/**
 * The pure core of a circuit breaker: its state, the events that move it, and the
 * functions `transition(policy, state, event) → state` and
 * `decide(policy, state, now) → decision`.
 *
 * Nothing here reads a clock, performs I/O or mutates: time enters as data (`now`, in
 * milliseconds), so the same events always give the same state, and every store (memory
 * or Redis) runs the very same policy.
 *
 * @since 0.1.0
 */
import * as internal from "./internal/circuitBreakerState.js"
import type { OpenBackoff } from "./internal/openDuration.js"
import type { TripRule } from "./TripRule.js"

/**
 * How a circuit is run. `"normal"`: by its rules. `"forcedOpen"`: every call is rejected.
 * `"forcedClosed"`: every call is admitted and recorded, and nothing trips. `"metricsOnly"`:
 * the same, for watching what the rules would do. `"disabled"`: every call is admitted and
 * nothing is recorded. The mode is part of the state, so a shared store shares it.
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = "normal" | "forcedOpen" | "forcedClosed" | "disabled" | "metricsOnly"

/**
 * What the state machine needs to know: when to trip (the {@link TripRule}), how long to
 * stay Open, and how many trial successes close the circuit again.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy<T = number> {
  /** The rule that trips a Closed circuit. */
  readonly rule: TripRule<T>
  /** Milliseconds the circuit stays Open before it lets trial calls through. */
  readonly resetTimeout: number
  /** Consecutive trial successes that close a Half-Open circuit. */
  readonly successThreshold: number
  /**
   * The most Half-Open trials in flight at once (never more than `successThreshold`).
   * `undefined` (a hand-written policy): `successThreshold`. Options default it to 1.
   */
  readonly maxConcurrentTrials?: number | undefined
  /**
   * Milliseconds a Half-Open trial permit is held before it expires, counted from the latest
   * admission. A trial whose holder never reports back (its process died while it shared the
   * circuit through a store) would otherwise keep its slot for ever: once
   * `HalfOpen.permitsExpireAt` has passed, time alone gives every slot in flight back and moves
   * to a new generation, so a late outcome of an expired permit is ignored. Make it longer than
   * a trial attempt can run, or live trials lose their say. `undefined` (the default of a
   * hand-written policy): permits never expire.
   */
  readonly trialPermitTtl?: number | undefined
  /**
   * Lengthens each consecutive open period after a failed trial: `resetTimeout ×
   * multiplier^n`, up to `maxResetTimeout` (which also caps a `Retry-After` hint); back to
   * `resetTimeout` once the circuit closes.
   */
  readonly openBackoff?: OpenBackoff | undefined
  /** Milliseconds a Half-Open circuit waits for its trials before it opens again; `undefined`: for ever. */
  readonly maxWaitInHalfOpen?: number | undefined
}

/**
 * Fields every state carries. `generation` grows by one on every change of state, so an
 * outcome that belongs to an older state (a late failure of a call admitted before the
 * circuit tripped) is recognised and ignored. Stores also use it as a version.
 *
 * @since 0.1.0
 * @category models
 */
export interface StateCommon {
  readonly generation: number
  /** When this state was entered (milliseconds). */
  readonly since: number
  /** The circuit's {@link Mode}; absent: `"normal"`. */
  readonly mode?: Mode | undefined
}

/**
 * Calls flow; the trip rule counts their outcomes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Closed<T = number> extends StateCommon {
  readonly _tag: "Closed"
  readonly tally: T
}

/**
 * Calls are rejected until `retryAt`, or, while isolated, until every isolation handle is
 * released.
 *
 * @since 0.1.0
 * @category models
 */
export interface Open extends StateCommon {
  readonly _tag: "Open"
  readonly openedAt: number
  readonly retryAt: number
  /** Failed trials since the circuit was last Closed (0, or absent, after a trip from Closed): what `openBackoff` counts. */
  readonly reopenings?: number | undefined
  /**
   * How many isolation handles hold the circuit Open (`isolate()`); absent when none does.
   * An isolated circuit never half-opens: the release of its last handle closes it.
   */
  readonly isolated?: number | undefined
}

/**
 * Up to `maxConcurrentTrials` trial calls may run at once; a trial failure reopens the circuit and
 * `successThreshold` trial successes close it. With a `trialPermitTtl` in the policy, the
 * trials in flight give their slots back once `permitsExpireAt` has passed.
 *
 * @since 0.1.0
 * @category models
 */
export interface HalfOpen extends StateCommon {
  readonly _tag: "HalfOpen"
  readonly trialsInFlight: number
  readonly successes: number
  /**
   * When the permits of the trials in flight expire (milliseconds): the latest admission plus
   * the policy's `trialPermitTtl` (plus nothing when the policy sets none, and then they never
   * expire). A fresh Half-Open circuit, with nothing in flight, has its `since` here.
   */
  readonly permitsExpireAt: number
  /** The `reopenings` of the Open state it came from. */
  readonly reopenings?: number | undefined
  /** When the first trial of this Half-Open period was admitted, with a `maxWaitInHalfOpen` in the policy. */
  readonly firstTrialAt?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export type CircuitState<T = number> = Closed<T> | Open | HalfOpen

/**
 * Identifies the state an admitted call belongs to; its outcome event carries it back.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ticket {
  readonly generation: number
  readonly trial: boolean
}

/**
 * A call was admitted (a trial call takes one of the Half-Open slots).
 *
 * @since 0.1.0
 * @category events
 */
export interface Admitted extends Ticket {
  readonly _tag: "Admitted"
  readonly now: number
}

/**
 * @since 0.1.0
 * @category events
 */
export interface Succeeded extends Ticket {
  readonly _tag: "Succeeded"
  readonly now: number
  /** How long the attempt took (milliseconds), for a slow-call rule; unknown: never slow. */
  readonly durationMs?: number | undefined
}

/**
 * @since 0.1.0
 * @category events
 */
export interface Failed extends Ticket {
  readonly _tag: "Failed"
  readonly now: number
  readonly durationMs?: number | undefined
  /** The service asked not to be called for this many milliseconds (`retryAfterFromError`): the circuit, if it opens, stays Open at least that long. */
  readonly retryAfter?: number | undefined
}

/**
 * The attempt ran past its timeout; counts as a failure.
 *
 * @since 0.1.0
 * @category events
 */
export interface TimedOut extends Ticket {
  readonly _tag: "TimedOut"
  readonly now: number
  readonly durationMs?: number | undefined
}

/**
 * The attempt was interrupted by its caller: not a failure, and a trial gives its slot back.
 *
 * @since 0.1.0
 * @category events
 */
export interface Interrupted extends Ticket {
  readonly _tag: "Interrupted"
  readonly now: number
}

/**
 * Back to Closed, whatever the state.
 *
 * @since 0.1.0
 * @category events
 */
export interface Reset {
  readonly _tag: "Reset"
  readonly now: number
}

/**
 * Open the circuit now, for `resetTimeout`, whatever the state; an isolated circuit stays
 * as it is (only its releases, or a reset, end an isolation).
 *
 * @since 0.1.0
 * @category events
 */
export interface Tripped {
  readonly _tag: "Tripped"
  readonly now: number
}

/**
 * Hold the circuit Open until released, whatever the state (cockatiel's `isolate()`). Each
 * isolation adds a handle; an isolated circuit opened anew gets a new generation, which its
 * handles carry.
 *
 * @since 0.1.0
 * @category events
 */
export interface Isolated {
  readonly _tag: "Isolated"
  readonly now: number
}

/**
 * One isolation handle of the isolated state of `generation` is released; the last one
 * closes the circuit. A handle of another generation (the circuit was reset since) is ignored.
 *
 * @since 0.1.0
 * @category events
 */
export interface Released {
  readonly _tag: "Released"
  readonly now: number
  readonly generation: number
}

/**
 * Only time passed: an Open circuit whose `retryAt` has come becomes Half-Open, and expired
 * trial permits are given back.
 *
 * @since 0.1.0
 * @category events
 */
export interface Elapsed {
  readonly _tag: "Elapsed"
  readonly now: number
}

/**
 * The circuit is put in `mode`: `"forcedOpen"` opens it for as long as the mode holds; any
 * other mode closes it with a fresh tally.
 *
 * @since 0.1.0
 * @category events
 */
export interface ModeChanged {
  readonly _tag: "ModeChanged"
  readonly now: number
  readonly mode: Mode
}

/**
 * @since 0.1.0
 * @category events
 */
export type CircuitEvent =
  | Admitted
  | Succeeded
  | Failed
  | TimedOut
  | Interrupted
  | Reset
  | Tripped
  | Isolated
  | Released
  | Elapsed
  | ModeChanged

/**
 * The mode of a state (`"normal"` when it carries none).
 *
 * @since 0.1.0
 * @category getters
 */
export const modeOf = (state: CircuitState<unknown>): Mode => state.mode ?? "normal"

/**
 * Whether a call may run now.
 *
 * @since 0.1.0
 * @category models
 */
export type Decision =
  | { readonly _tag: "Admit"; readonly generation: number }
  | { readonly _tag: "AdmitTrial"; readonly generation: number }
  | { readonly _tag: "Reject"; readonly retryAfter: number }

/**
 * A Closed circuit with the rule's initial tally.
 *
 * @since 0.1.0
 * @category constructors
 */
export const initial: <T>(policy: Policy<T>, now?: number) => CircuitState<T> = internal.initial

/**
 * The state as time alone moves it: an Open circuit whose `retryAt` has come is Half-Open,
 * and a Half-Open circuit whose trial permits have expired (`permitsExpireAt`, with a
 * `trialPermitTtl` in the policy) has no trial in flight, in a new generation.
 *
 * @since 0.1.0
 * @category transitions
 */
export const advance: <T>(policy: Policy<T>, state: CircuitState<T>, now: number) => CircuitState<T> = internal.advance

/**
 * The admission decision for a call arriving at `now`: admit, admit as a trial, or
 * reject with the whole milliseconds (rounded up) after which a retry may succeed.
 *
 * @since 0.1.0
 * @category transitions
 */
export const decide: <T>(policy: Policy<T>, state: CircuitState<T>, now: number) => Decision = internal.decide

/**
 * The next state after `event`. Outcomes whose ticket belongs to another generation
 * are ignored.
 *
 * @since 0.1.0
 * @category transitions
 */
export const transition: <T>(policy: Policy<T>, state: CircuitState<T>, event: CircuitEvent) => CircuitState<T> =
  internal.transition

/**
 * `decide` followed by the `Admitted` transition it implies, in one step: what a store
 * applies atomically when a call arrives.
 *
 * @since 0.1.0
 * @category transitions
 */
export const admit: <T>(
  policy: Policy<T>,
  state: CircuitState<T>,
  now: number
) => readonly [Decision, CircuitState<T>] = internal.admit

/**
 * How many isolation handles hold the circuit Open (0 when it is not isolated).
 *
 * @since 0.1.0
 * @category getters
 */
export const isolations: (state: CircuitState<unknown>) => number = internal.isolationsOf

/**
 * The ticket an admission decision hands to the call, or `undefined` for a rejection.
 *
 * @since 0.1.0
 * @category transitions
 */
export const ticketOf = (decision: Decision): Ticket | undefined =>
  decision._tag === "Reject" ? undefined : { generation: decision.generation, trial: decision._tag === "AdmitTrial" }
