import type * as S from "../CircuitBreakerState.js"
import { halfOpenWaitExpired, openDuration } from "./openDuration.js"

/** A forced-open circuit's `retryAt`: it never half-opens while the mode holds. */
const FOREVER = Number.MAX_SAFE_INTEGER

/** @internal */
export const closed = <T>(generation: number, tally: T, since: number, mode?: S.Mode): S.Closed<T> =>
  mode === undefined || mode === "normal"
    ? { _tag: "Closed", generation, since, tally }
    : { _tag: "Closed", generation, since, tally, mode }

/** The optional fields of an Open state: present only when they differ from the default. */
interface OpenExtras {
  readonly reopenings?: number | undefined
  readonly isolated?: number | undefined
  readonly mode?: S.Mode | undefined
}

/** @internal */
export const open = (generation: number, openedAt: number, retryAt: number, extras?: OpenExtras): S.Open => {
  const state: S.Open = { _tag: "Open", generation, since: openedAt, openedAt, retryAt }
  if (extras === undefined) return state
  const { isolated = 0, mode, reopenings = 0 } = extras
  if (reopenings === 0 && isolated === 0 && mode === undefined) return state
  return {
    ...state,
    ...(reopenings > 0 ? { reopenings } : {}),
    ...(isolated > 0 ? { isolated } : {}),
    ...(mode !== undefined ? { mode } : {})
  }
}

/** The isolation handles an Open state holds (0 when it is not isolated). */
export const isolationsOf = (state: S.CircuitState<unknown>): number =>
  state._tag === "Open" ? (state.isolated ?? 0) : 0

/** The most Half-Open trials in flight at once. */
const trialLimit = <T>(policy: S.Policy<T>): number =>
  Math.min(policy.maxConcurrentTrials ?? policy.successThreshold, policy.successThreshold)

/** Whether a Half-Open circuit has a free trial slot. */
const hasTrialSlot = <T>(policy: S.Policy<T>, state: S.HalfOpen): boolean =>
  state.trialsInFlight < trialLimit(policy) && state.successes + state.trialsInFlight < policy.successThreshold

/** @internal */
export const halfOpen = (
  generation: number,
  since: number,
  trialsInFlight: number,
  successes: number,
  permitsExpireAt: number,
  reopenings = 0,
  firstTrialAt?: number
): S.HalfOpen => {
  const state: S.HalfOpen = { _tag: "HalfOpen", generation, since, trialsInFlight, successes, permitsExpireAt }
  if (reopenings === 0 && firstTrialAt === undefined) return state
  return {
    ...state,
    ...(reopenings > 0 ? { reopenings } : {}),
    ...(firstTrialAt !== undefined ? { firstTrialAt } : {})
  }
}

/** @internal */
export const initial = <T>(policy: S.Policy<T>, now = 0): S.CircuitState<T> => closed(0, policy.rule.initial, now)

const reopeningsOf = (state: S.CircuitState<unknown>): number => (state._tag === "Closed" ? 0 : (state.reopenings ?? 0))

/**
 * Opens the circuit at `now`, after `reopenings` failed trials in a row (counted only for an
 * `openBackoff`), for at least `retryAfter` ms if the service asked.
 */
const openAt = <T>(
  policy: S.Policy<T>,
  state: S.CircuitState<T>,
  now: number,
  reopenings: number,
  retryAfter?: number
): S.Open => {
  const counted = policy.openBackoff === undefined ? 0 : reopenings
  return open(state.generation + 1, now, now + openDuration(policy, counted, retryAfter), { reopenings: counted })
}

/** Opens the circuit; an isolated circuit stays as it is: only the release of its handles (or a reset) ends it. */
const trip = <T>(
  policy: S.Policy<T>,
  state: S.CircuitState<T>,
  now: number,
  reopenings: number,
  retryAfter?: number
): S.CircuitState<T> => (isolationsOf(state) > 0 ? state : openAt(policy, state, now, reopenings, retryAfter))

/** One more isolation handle: Open until every handle is released. */
const isolate = <T>(policy: S.Policy<T>, state: S.CircuitState<T>, now: number): S.CircuitState<T> => {
  const held = isolationsOf(state)
  if (held > 0) {
    const o = state as S.Open
    return open(o.generation, o.openedAt, o.retryAt, { isolated: held + 1 })
  }
  return open(state.generation + 1, now, now + policy.resetTimeout, { isolated: 1 })
}

/** One isolation handle of `generation` released; the last one closes the circuit. */
const release = <T>(policy: S.Policy<T>, state: S.CircuitState<T>, event: S.Released): S.CircuitState<T> => {
  const held = isolationsOf(state)
  if (held === 0 || state.generation !== event.generation) return state
  const o = state as S.Open
  return held > 1
    ? open(o.generation, o.openedAt, o.retryAt, { isolated: held - 1 })
    : closed(state.generation + 1, policy.rule.initial, event.now)
}

/** Whether the trial permits of a Half-Open circuit have expired at `now` (never without a `trialPermitTtl`). */
const permitsExpired = <T>(policy: S.Policy<T>, state: S.HalfOpen, now: number): boolean =>
  state.trialsInFlight > 0 && policy.trialPermitTtl !== undefined && now >= state.permitsExpireAt

const advanceOpen = <T>(state: S.Open, now: number): S.CircuitState<T> =>
  now >= state.retryAt && isolationsOf(state) === 0
    ? halfOpen(state.generation + 1, state.retryAt, 0, 0, state.retryAt, state.reopenings ?? 0)
    : state

const advanceHalfOpen = <T>(policy: S.Policy<T>, state: S.HalfOpen, now: number): S.CircuitState<T> => {
  if (state.firstTrialAt !== undefined && halfOpenWaitExpired(policy.maxWaitInHalfOpen, state.firstTrialAt, now)) {
    // The trials did not finish in time: Open again, as after a failed trial, from the moment the wait ran out.
    return advanceOpen(
      openAt(policy, state, state.firstTrialAt + policy.maxWaitInHalfOpen!, reopeningsOf(state) + 1),
      now
    )
  }
  // The holders of the permits are presumed dead: their slots come back, and the new
  // generation makes a late outcome of theirs stale. The successes already seen stand.
  return permitsExpired(policy, state, now)
    ? halfOpen(
        state.generation + 1,
        state.since,
        0,
        state.successes,
        state.permitsExpireAt,
        reopeningsOf(state),
        state.firstTrialAt
      )
    : state
}

/** @internal */
export const advance = <T>(policy: S.Policy<T>, state: S.CircuitState<T>, now: number): S.CircuitState<T> => {
  switch (state._tag) {
    case "Open":
      return advanceOpen(state, now)
    case "HalfOpen":
      return advanceHalfOpen(policy, state, now)
    case "Closed":
      return state
  }
}

/** The admission of the last generation asked for: decisions are values, so calls share it. */
let lastAdmit: Extract<S.Decision, { readonly _tag: "Admit" }> = { _tag: "Admit", generation: 0 }

/** @internal The admission of a call to a Closed circuit of `generation`. */
export const admitIn = (generation: number): Extract<S.Decision, { readonly _tag: "Admit" }> =>
  lastAdmit.generation === generation ? lastAdmit : (lastAdmit = { _tag: "Admit", generation })

/** @internal */
export const decide = <T>(policy: S.Policy<T>, state: S.CircuitState<T>, now: number): S.Decision => {
  const current = advance(policy, state, now)
  switch (current._tag) {
    case "Closed":
      return admitIn(current.generation)
    case "Open":
      return {
        _tag: "Reject",
        // Whole milliseconds, rounded up: a caller that waits that long is never early.
        retryAfter: Math.ceil(
          current.mode === "forcedOpen" || isolationsOf(current) > 0 ? policy.resetTimeout : current.retryAt - now
        )
      }
    case "HalfOpen":
      if (hasTrialSlot(policy, current)) {
        return { _tag: "AdmitTrial", generation: current.generation }
      }
      // The slots free up when a trial ends, or at the latest when the permits expire.
      return {
        _tag: "Reject",
        retryAfter: Math.ceil(
          policy.trialPermitTtl !== undefined && current.trialsInFlight > 0
            ? Math.min(policy.resetTimeout, current.permitsExpireAt - now)
            : policy.resetTimeout
        )
      }
  }
}

type Outcome = S.Succeeded | S.Failed | S.TimedOut | S.Interrupted

/** A Closed circuit's tally after an outcome; it trips only in the normal mode, and `disabled` records nothing. */
const onClosedOutcome = <T>(policy: S.Policy<T>, state: S.Closed<T>, event: Outcome): S.CircuitState<T> => {
  if (event.trial || event._tag === "Interrupted" || state.mode === "disabled") return state
  const succeeded = event._tag === "Succeeded"
  const tally = succeeded
    ? policy.rule.onSuccess(state.tally, event.now, event.durationMs)
    : policy.rule.onFailure(state.tally, event.now, event.durationMs)
  if (tally === state.tally) return state
  const mayTrip = state.mode === undefined && (!succeeded || policy.rule.successMayTrip === true)
  return mayTrip && policy.rule.shouldTrip(tally)
    ? trip(policy, state, event.now, 0, event._tag === "Failed" ? event.retryAfter : undefined)
    : closed(state.generation, tally, state.since, state.mode)
}

const onTrialOutcome = <T>(policy: S.Policy<T>, state: S.HalfOpen, event: Outcome): S.CircuitState<T> => {
  if (!event.trial) return state
  const inFlight = Math.max(0, state.trialsInFlight - 1)
  const reopenings = reopeningsOf(state)
  switch (event._tag) {
    case "Succeeded": {
      const successes = state.successes + 1
      return successes >= policy.successThreshold
        ? closed(state.generation + 1, policy.rule.initial, event.now)
        : halfOpen(
            state.generation,
            state.since,
            inFlight,
            successes,
            state.permitsExpireAt,
            reopenings,
            state.firstTrialAt
          )
    }
    case "Interrupted":
      return halfOpen(
        state.generation,
        state.since,
        inFlight,
        state.successes,
        state.permitsExpireAt,
        reopenings,
        state.firstTrialAt
      )
    default:
      return trip(policy, state, event.now, reopenings + 1, event._tag === "Failed" ? event.retryAfter : undefined)
  }
}

const onOutcome = <T>(policy: S.Policy<T>, state: S.CircuitState<T>, event: Outcome): S.CircuitState<T> => {
  if (event.generation !== state.generation) return state
  switch (state._tag) {
    case "Closed":
      return onClosedOutcome(policy, state, event)
    case "Open":
      return state
    case "HalfOpen":
      return onTrialOutcome(policy, state, event)
  }
}

/**
 * Whether a non-trial success of `generation` at `now` leaves `state` as it is:
 * `transition(policy, state, { _tag: "Succeeded", now, generation, trial: false }) === state`
 * for a Closed state, answered without building the event (the common case of a call).
 *
 * @internal
 */
export const succeededLeavesClosed = <T>(
  policy: S.Policy<T>,
  state: S.CircuitState<T>,
  generation: number,
  now: number
): boolean =>
  state._tag === "Closed" &&
  (generation !== state.generation ||
    state.mode === "disabled" ||
    policy.rule.onSuccess(state.tally, now) === state.tally)

/** The circuit put in `mode`: forced open for as long as it holds, or closed afresh (nothing changes for the same mode). */
const changeMode = <T>(policy: S.Policy<T>, state: S.CircuitState<T>, event: S.ModeChanged): S.CircuitState<T> => {
  if ((state.mode ?? "normal") === event.mode) return state
  return event.mode === "forcedOpen"
    ? open(state.generation + 1, event.now, FOREVER, { mode: "forcedOpen" })
    : closed(state.generation + 1, policy.rule.initial, event.now, event.mode)
}

const admitted = <T>(policy: S.Policy<T>, current: S.CircuitState<T>, event: S.Admitted): S.CircuitState<T> => {
  if (
    current._tag === "HalfOpen" &&
    event.trial &&
    event.generation === current.generation &&
    hasTrialSlot(policy, current)
  ) {
    // The latest admission sets when every permit in flight expires.
    return halfOpen(
      current.generation,
      current.since,
      current.trialsInFlight + 1,
      current.successes,
      event.now + (policy.trialPermitTtl ?? 0),
      reopeningsOf(current),
      current.firstTrialAt ?? (policy.maxWaitInHalfOpen !== undefined ? event.now : undefined)
    )
  }
  return current
}

/** @internal */
export const transition = <T>(
  policy: S.Policy<T>,
  state: S.CircuitState<T>,
  event: S.CircuitEvent
): S.CircuitState<T> => {
  const current = advance(policy, state, event.now)
  switch (event._tag) {
    case "Elapsed":
      return current
    case "Reset":
      return closed(current.generation + 1, policy.rule.initial, event.now)
    case "Tripped":
      return trip(policy, current, event.now, 0)
    case "Isolated":
      return isolate(policy, current, event.now)
    case "Released":
      return release(policy, current, event)
    case "ModeChanged":
      return changeMode(policy, current, event)
    case "Admitted":
      return admitted(policy, current, event)
    default:
      return onOutcome(policy, current, event)
  }
}

/** @internal */
export const admit = <T>(
  policy: S.Policy<T>,
  state: S.CircuitState<T>,
  now: number
): readonly [S.Decision, S.CircuitState<T>] => {
  const decision = decide(policy, state, now)
  switch (decision._tag) {
    case "Admit":
      return [decision, advance(policy, state, now)]
    case "AdmitTrial":
      return [
        decision,
        transition(policy, state, { _tag: "Admitted", now, trial: true, generation: decision.generation })
      ]
    case "Reject":
      return [decision, advance(policy, state, now)]
  }
}
