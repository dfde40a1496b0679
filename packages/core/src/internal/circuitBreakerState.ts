import type * as S from "../CircuitBreakerState.js"

/** @internal */
export const closed = <T>(generation: number, tally: T, since: number): S.Closed<T> => ({
  _tag: "Closed",
  generation,
  since,
  tally
})

/** @internal */
export const open = (generation: number, openedAt: number, retryAt: number, isolated = 0): S.Open =>
  isolated === 0
    ? { _tag: "Open", generation, since: openedAt, openedAt, retryAt }
    : { _tag: "Open", generation, since: openedAt, openedAt, retryAt, isolated }

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
  permitsExpireAt: number
): S.HalfOpen => ({
  _tag: "HalfOpen",
  generation,
  since,
  trialsInFlight,
  successes,
  permitsExpireAt
})

/** @internal */
export const initial = <T>(policy: S.Policy<T>, now = 0): S.CircuitState<T> => closed(0, policy.rule.initial, now)

const trip = <T>(policy: S.Policy<T>, state: S.CircuitState<T>, now: number): S.CircuitState<T> =>
  // An isolated circuit stays as it is: only the release of its handles (or a reset) ends it.
  isolationsOf(state) > 0 ? state : open(state.generation + 1, now, now + policy.resetTimeout)

/** One more isolation handle: Open until every handle is released. */
const isolate = <T>(policy: S.Policy<T>, state: S.CircuitState<T>, now: number): S.CircuitState<T> => {
  const held = isolationsOf(state)
  if (held > 0) {
    const o = state as S.Open
    return open(o.generation, o.openedAt, o.retryAt, held + 1)
  }
  return open(state.generation + 1, now, now + policy.resetTimeout, 1)
}

/** One isolation handle of `generation` released; the last one closes the circuit. */
const release = <T>(policy: S.Policy<T>, state: S.CircuitState<T>, event: S.Released): S.CircuitState<T> => {
  const held = isolationsOf(state)
  if (held === 0 || state.generation !== event.generation) return state
  const o = state as S.Open
  return held > 1
    ? open(o.generation, o.openedAt, o.retryAt, held - 1)
    : closed(state.generation + 1, policy.rule.initial, event.now)
}

/** Whether the trial permits of a Half-Open circuit have expired at `now` (never without a `trialPermitTtl`). */
const permitsExpired = <T>(policy: S.Policy<T>, state: S.HalfOpen, now: number): boolean =>
  state.trialsInFlight > 0 && policy.trialPermitTtl !== undefined && now >= state.permitsExpireAt

/** @internal */
export const advance = <T>(policy: S.Policy<T>, state: S.CircuitState<T>, now: number): S.CircuitState<T> => {
  switch (state._tag) {
    case "Open":
      return now >= state.retryAt && isolationsOf(state) === 0
        ? halfOpen(state.generation + 1, state.retryAt, 0, 0, state.retryAt)
        : state
    case "HalfOpen":
      // The holders of the permits are presumed dead: their slots come back, and the new
      // generation makes a late outcome of theirs stale. The successes already seen stand.
      return permitsExpired(policy, state, now)
        ? halfOpen(state.generation + 1, state.since, 0, state.successes, state.permitsExpireAt)
        : state
    case "Closed":
      return state
  }
}

/** @internal */
export const decide = <T>(policy: S.Policy<T>, state: S.CircuitState<T>, now: number): S.Decision => {
  const current = advance(policy, state, now)
  switch (current._tag) {
    case "Closed":
      return { _tag: "Admit", generation: current.generation }
    case "Open":
      return {
        _tag: "Reject",
        // Whole milliseconds, rounded up: a caller that waits that long is never early.
        retryAfter: Math.ceil(isolationsOf(current) > 0 ? policy.resetTimeout : current.retryAt - now)
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

const onOutcome = <T>(
  policy: S.Policy<T>,
  state: S.CircuitState<T>,
  event: S.Succeeded | S.Failed | S.TimedOut | S.Interrupted
): S.CircuitState<T> => {
  if (event.generation !== state.generation) return state
  switch (state._tag) {
    case "Closed": {
      if (event.trial || event._tag === "Interrupted") return state
      if (event._tag === "Succeeded") {
        const tally = policy.rule.onSuccess(state.tally, event.now)
        return tally === state.tally ? state : closed(state.generation, tally, state.since)
      }
      const tally = policy.rule.onFailure(state.tally, event.now)
      return policy.rule.shouldTrip(tally)
        ? trip(policy, state, event.now)
        : closed(state.generation, tally, state.since)
    }
    case "Open":
      return state
    case "HalfOpen": {
      if (!event.trial) return state
      const inFlight = Math.max(0, state.trialsInFlight - 1)
      switch (event._tag) {
        case "Succeeded": {
          const successes = state.successes + 1
          return successes >= policy.successThreshold
            ? closed(state.generation + 1, policy.rule.initial, event.now)
            : halfOpen(state.generation, state.since, inFlight, successes, state.permitsExpireAt)
        }
        case "Interrupted":
          return halfOpen(state.generation, state.since, inFlight, state.successes, state.permitsExpireAt)
        default:
          return trip(policy, state, event.now)
      }
    }
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
  (generation !== state.generation || policy.rule.onSuccess(state.tally, now) === state.tally)

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
      return trip(policy, current, event.now)
    case "Isolated":
      return isolate(policy, current, event.now)
    case "Released":
      return release(policy, current, event)
    case "Admitted":
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
          event.now + (policy.trialPermitTtl ?? 0)
        )
      }
      return current
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
