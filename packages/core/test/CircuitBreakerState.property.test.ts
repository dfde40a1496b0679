import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as CircuitBreakerState from "../src/CircuitBreakerState.js"
import { succeededLeavesClosed } from "../src/internal/circuitBreakerState.js"
import * as TripRule from "../src/TripRule.js"

type Policy = CircuitBreakerState.Policy<number>
type State = CircuitBreakerState.CircuitState<number>
type CircuitEvent = CircuitBreakerState.CircuitEvent
type Decision = CircuitBreakerState.Decision
type Ticket = CircuitBreakerState.Ticket
type Outcome = "Succeeded" | "Failed" | "TimedOut" | "Interrupted"

// ---------------------------------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------------------------------

interface PolicyParams {
  readonly failureThreshold: number
  readonly successThreshold: number
  readonly resetTimeout: number
  /** `undefined`: trial permits never expire. */
  readonly trialPermitTtl: number | undefined
  /** `undefined`: bounded by successThreshold alone. */
  readonly maxConcurrentTrials: number | undefined
}

const policyParams: FastCheck.Arbitrary<PolicyParams> = FastCheck.record({
  failureThreshold: FastCheck.integer({ min: 1, max: 10 }),
  successThreshold: FastCheck.integer({ min: 1, max: 5 }),
  resetTimeout: FastCheck.integer({ min: 1, max: 10_000 }),
  // At least 20 ms: the interruption property below admits and interrupts its trials within 10 ms, and means them to
  // be live. Waits (up to 200 ms, or 20 s) let permits expire in the middle of the other runs.
  trialPermitTtl: FastCheck.option(FastCheck.integer({ min: 20, max: 5_000 }), { nil: undefined }),
  maxConcurrentTrials: FastCheck.option(FastCheck.integer({ min: 1, max: 5 }), { nil: undefined })
})

const makePolicy = (params: PolicyParams): Policy => ({
  rule: TripRule.consecutiveFailures(params.failureThreshold),
  resetTimeout: params.resetTimeout,
  successThreshold: params.successThreshold,
  trialPermitTtl: params.trialPermitTtl,
  maxConcurrentTrials: params.maxConcurrentTrials
})

/** The most trials a Half-Open circuit of `policy` runs at once. */
const trialLimit = (policy: Policy): number =>
  Math.min(policy.maxConcurrentTrials ?? policy.successThreshold, policy.successThreshold)

/** What the simulated caller does next; turned into concrete steps by `simulate`, which knows the state. */
type Op =
  | { readonly _tag: "Wait"; readonly ms: number }
  /** If the circuit is Open, jump to `offset` ms around its retryAt (never back in time). */
  | { readonly _tag: "JumpToRetry"; readonly offset: number }
  | { readonly _tag: "Admit" }
  /** Completes (and forgets) one of the tickets handed out so far, current or stale. */
  | { readonly _tag: "Complete"; readonly pick: number; readonly outcome: Outcome }
  /**
   * An event whose ticket was never handed out (a duplicate, another node's admission, a late outcome): its generation
   * is the current one minus `back` (-1 is the generation an Open circuit enters when its retryAt has come).
   */
  | {
      readonly _tag: "Forge"
      readonly kind: Outcome | "Admitted"
      readonly back: number
      readonly trial: boolean
    }
  | { readonly _tag: "Reset" }
  | { readonly _tag: "Tripped" }
  | { readonly _tag: "Elapsed" }
  | { readonly _tag: "Isolated" }
  /** Releases one of the isolation handles handed out so far (current or stale). */
  | { readonly _tag: "Release"; readonly pick: number }

const outcome: FastCheck.Arbitrary<Outcome> = FastCheck.constantFrom("Succeeded", "Failed", "TimedOut", "Interrupted")

const honestOp: FastCheck.Arbitrary<Op> = FastCheck.oneof(
  { weight: 3, arbitrary: FastCheck.integer({ min: 0, max: 200 }).map((ms): Op => ({ _tag: "Wait", ms })) },
  { weight: 1, arbitrary: FastCheck.integer({ min: 0, max: 20_000 }).map((ms): Op => ({ _tag: "Wait", ms })) },
  {
    weight: 3,
    arbitrary: FastCheck.integer({ min: -2, max: 2 }).map((offset): Op => ({ _tag: "JumpToRetry", offset }))
  },
  { weight: 6, arbitrary: FastCheck.constant<Op>({ _tag: "Admit" }) },
  {
    weight: 6,
    arbitrary: FastCheck.record({ pick: FastCheck.nat(), outcome }).map(
      ({ outcome, pick }): Op => ({ _tag: "Complete", pick, outcome })
    )
  },
  { weight: 1, arbitrary: FastCheck.constant<Op>({ _tag: "Reset" }) },
  { weight: 2, arbitrary: FastCheck.constant<Op>({ _tag: "Tripped" }) },
  { weight: 2, arbitrary: FastCheck.constant<Op>({ _tag: "Elapsed" }) }
)

/** Manual isolation: left out of the properties about a circuit that time alone moves. */
const isolationOp: FastCheck.Arbitrary<Op> = FastCheck.oneof(
  FastCheck.constant<Op>({ _tag: "Isolated" }),
  FastCheck.nat().map((pick): Op => ({ _tag: "Release", pick }))
)

const forgedOp: FastCheck.Arbitrary<Op> = FastCheck.record({
  kind: FastCheck.constantFrom<Outcome | "Admitted">("Admitted", "Succeeded", "Failed", "TimedOut", "Interrupted"),
  back: FastCheck.oneof(
    { weight: 4, arbitrary: FastCheck.constant(0) },
    { weight: 1, arbitrary: FastCheck.constant(-1) },
    { weight: 2, arbitrary: FastCheck.integer({ min: 1, max: 3 }) }
  ),
  trial: FastCheck.boolean()
}).map(({ back, kind, trial }): Op => ({ _tag: "Forge", kind, back, trial }))

const anyOp: FastCheck.Arbitrary<Op> = FastCheck.oneof(
  { weight: 4, arbitrary: honestOp },
  { weight: 1, arbitrary: forgedOp }
)

const honestOps = FastCheck.array(honestOp, { maxLength: 100, size: "max" })
const anyOps = FastCheck.array(anyOp, { maxLength: 100, size: "max" })
/** Any steps, manual isolation and releases among them. */
const isolatingOps = FastCheck.array(
  FastCheck.oneof({ weight: 8, arbitrary: anyOp }, { weight: 1, arbitrary: isolationOp }),
  {
    maxLength: 100,
    size: "max"
  }
)
const honestIsolatingOps = FastCheck.array(
  FastCheck.oneof({ weight: 8, arbitrary: honestOp }, { weight: 1, arbitrary: isolationOp }),
  { maxLength: 100, size: "max" }
)
const start = FastCheck.integer({ min: 0, max: 1_000_000 })

// ---------------------------------------------------------------------------------------------------------------------
// Simulation
// ---------------------------------------------------------------------------------------------------------------------

/** A concrete step, replayable without the simulation: an admission through `admit`, or an event through `transition`. */
type Step = { readonly _tag: "Admit"; readonly now: number } | { readonly _tag: "Event"; readonly event: CircuitEvent }

const stepNow = (step: Step): number => (step._tag === "Admit" ? step.now : step.event.now)

const apply = (policy: Policy, state: State, step: Step): State =>
  step._tag === "Admit"
    ? CircuitBreakerState.admit(policy, state, step.now)[1]
    : CircuitBreakerState.transition(policy, state, step.event)

const deepFreeze = <A>(value: A): A => {
  if ((typeof value === "object" && value !== null) || typeof value === "function") {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

/** The data part of a policy (structuredClone cannot copy the rule's functions). */
const policyData = (policy: Policy) => ({
  resetTimeout: policy.resetTimeout,
  successThreshold: policy.successThreshold,
  trialPermitTtl: policy.trialPermitTtl,
  rule: { name: policy.rule.name, initial: policy.rule.initial }
})

interface Observed {
  readonly prev: State
  readonly step: Step
  readonly decision: Decision | undefined
  readonly next: State
  /** Tickets handed out and not completed yet, after this step. */
  readonly outstanding: ReadonlyArray<Ticket>
}

interface Run {
  readonly initial: State
  readonly steps: ReadonlyArray<Step>
  readonly observed: ReadonlyArray<Observed>
  readonly final: State
  readonly now: number
  /** Tickets handed out and not completed yet. */
  readonly outstanding: ReadonlyArray<Ticket>
}

/**
 * Drives the state machine through `ops`. Every call sees deep-frozen inputs (so a write throws in this strict-mode
 * module) and is checked not to have changed them.
 */
const simulate = (policy: Policy, startAt: number, ops: ReadonlyArray<Op>): Run => {
  deepFreeze(policy)
  const policyBefore = policyData(policy)
  let now = startAt
  const initial = deepFreeze(CircuitBreakerState.initial(policy, now))
  let state = initial
  const outstanding: Array<Ticket> = []
  /** The generations of the isolation handles handed out and not released yet. */
  const handles: Array<number> = []
  const steps: Array<Step> = []
  const observed: Array<Observed> = []

  for (const op of ops) {
    let step: Step
    switch (op._tag) {
      case "Wait":
        now += op.ms
        continue
      case "JumpToRetry":
        if (state._tag === "Open") now = Math.max(now, state.retryAt + op.offset)
        continue
      case "Admit":
        step = { _tag: "Admit", now }
        break
      case "Complete": {
        if (outstanding.length === 0) continue
        const [ticket] = outstanding.splice(op.pick % outstanding.length, 1)
        step = { _tag: "Event", event: { _tag: op.outcome, now, generation: ticket!.generation, trial: ticket!.trial } }
        break
      }
      case "Release": {
        if (handles.length === 0) continue
        const [generation] = handles.splice(op.pick % handles.length, 1)
        step = { _tag: "Event", event: { _tag: "Released", now, generation: generation! } }
        break
      }
      case "Forge":
        step = {
          _tag: "Event",
          event: { _tag: op.kind, now, generation: Math.max(0, state.generation - op.back), trial: op.trial }
        }
        break
      default:
        step = { _tag: "Event", event: { _tag: op._tag, now } }
    }

    deepFreeze(step)
    const stateBefore = structuredClone(state)
    const stepBefore = structuredClone(step)
    let decision: Decision | undefined
    let next: State
    if (step._tag === "Admit") {
      const decided = CircuitBreakerState.decide(policy, state, step.now)
      const admitted = CircuitBreakerState.admit(policy, state, step.now)
      expect(admitted[0]).toStrictEqual(decided)
      decision = admitted[0]
      next = admitted[1]
      const ticket = CircuitBreakerState.ticketOf(decision)
      if (ticket !== undefined) outstanding.push(ticket)
    } else {
      next = CircuitBreakerState.transition(policy, state, step.event)
      if (step.event._tag === "Isolated") handles.push(next.generation)
    }
    CircuitBreakerState.advance(policy, state, now)
    expect(state).toStrictEqual(stateBefore)
    expect(step).toStrictEqual(stepBefore)
    expect(policyData(policy)).toStrictEqual(policyBefore)

    deepFreeze(next)
    steps.push(step)
    observed.push({ prev: state, step, decision, next, outstanding: [...outstanding] })
    state = next
  }
  return { initial, steps, observed, final: state, now, outstanding }
}

// ---------------------------------------------------------------------------------------------------------------------
// Invariants
// ---------------------------------------------------------------------------------------------------------------------

const expectNonNegativeInteger = (n: number) => {
  expect(Number.isSafeInteger(n)).toBe(true)
  expect(n).toBeGreaterThanOrEqual(0)
}

/** (1) and (4): counters are non-negative integers, and a Half-Open circuit never holds more than its slots. */
const checkCounters = (policy: Policy, state: State) => {
  expectNonNegativeInteger(state.generation)
  switch (state._tag) {
    case "Closed":
      expectNonNegativeInteger(state.tally)
      expect(policy.rule.shouldTrip(state.tally)).toBe(false)
      break
    case "Open":
      break
    case "HalfOpen":
      expectNonNegativeInteger(state.trialsInFlight)
      expectNonNegativeInteger(state.successes)
      expect(state.trialsInFlight + state.successes).toBeLessThanOrEqual(policy.successThreshold)
      expect(state.trialsInFlight).toBeLessThanOrEqual(trialLimit(policy))
      expect(state.successes).toBeLessThan(policy.successThreshold)
      expect(Number.isSafeInteger(state.permitsExpireAt)).toBe(true)
      expect(state.permitsExpireAt).toBeGreaterThanOrEqual(state.since)
      break
  }
}

/** No step leaves an expired permit holding a slot: the trials a Half-Open circuit counts hold live permits. */
const checkPermits = (policy: Policy, state: State, now: number) => {
  if (state._tag !== "HalfOpen" || state.trialsInFlight === 0 || policy.trialPermitTtl === undefined) return
  expect(state.permitsExpireAt).toBeGreaterThan(now)
  expect(state.permitsExpireAt).toBeLessThanOrEqual(now + policy.trialPermitTtl)
}

/** (2): an Open circuit lasts exactly resetTimeout, then admits a trial. */
const checkOpen = (policy: Policy, state: State, now: number) => {
  if (state._tag !== "Open") return
  if (CircuitBreakerState.isolations(state) > 0) {
    // Isolated: rejected, and time alone never moves it.
    for (const t of [now, state.retryAt, state.retryAt + 1e9]) {
      expect(CircuitBreakerState.decide(policy, state, t)._tag).toBe("Reject")
      expect(CircuitBreakerState.advance(policy, state, t)).toBe(state)
    }
    return
  }
  expect(state.retryAt - state.openedAt).toBe(policy.resetTimeout)
  expect(state.since).toBe(state.openedAt)
  expect(state.retryAt).toBeLessThanOrEqual(now + policy.resetTimeout)
  for (const t of [state.retryAt, state.retryAt + 1, state.retryAt + policy.resetTimeout, state.retryAt + 1e9]) {
    const decision = CircuitBreakerState.decide(policy, state, t)
    const advanced = CircuitBreakerState.advance(policy, state, t)
    // "Reject unless the half-open slots are full": a freshly Half-Open circuit has every slot free.
    expect(
      advanced._tag === "HalfOpen" && advanced.trialsInFlight + advanced.successes >= policy.successThreshold
    ).toBe(false)
    expect(decision).toStrictEqual({ _tag: "AdmitTrial", generation: state.generation + 1 })
  }
  expect(CircuitBreakerState.advance(policy, state, state.retryAt)).toStrictEqual({
    _tag: "HalfOpen",
    generation: state.generation + 1,
    since: state.retryAt,
    trialsInFlight: 0,
    successes: 0,
    permitsExpireAt: state.retryAt
  })
  if (now < state.retryAt) {
    expect(CircuitBreakerState.decide(policy, state, now)).toStrictEqual({
      _tag: "Reject",
      retryAfter: state.retryAt - now
    })
    expect(CircuitBreakerState.advance(policy, state, state.retryAt - 1)).toStrictEqual(state)
  }
}

const checkStep = (policy: Policy, { decision, next, prev, step }: Observed) => {
  const now = stepNow(step)
  checkCounters(policy, next)
  checkOpen(policy, next, now)
  checkPermits(policy, next, now)
  // (4) generation never decreases; any change of kind bumps it.
  expect(next.generation).toBeGreaterThanOrEqual(prev.generation)
  if (next._tag !== prev._tag) expect(next.generation).toBeGreaterThan(prev.generation)
  expect(next.since).toBeLessThanOrEqual(now)
  if (step._tag === "Event") {
    switch (step.event._tag) {
      case "Reset":
        // (3) Reset gives Closed with the rule's initial tally.
        expect(next).toStrictEqual({
          _tag: "Closed",
          generation: next.generation,
          since: now,
          tally: policy.rule.initial
        })
        expect(next.generation).toBeGreaterThan(prev.generation)
        break
      case "Isolated": {
        const before = CircuitBreakerState.advance(policy, prev, now)
        expect(next._tag).toBe("Open")
        expect(CircuitBreakerState.isolations(next)).toBe(CircuitBreakerState.isolations(before) + 1)
        break
      }
      case "Released": {
        const before = CircuitBreakerState.advance(policy, prev, now)
        const held = CircuitBreakerState.isolations(before)
        if (held === 0 || before.generation !== step.event.generation) expect(next).toStrictEqual(before)
        else if (held === 1) expect(next).toMatchObject({ _tag: "Closed", tally: policy.rule.initial, since: now })
        else expect(next).toMatchObject({ _tag: "Open", generation: before.generation, isolated: held - 1 })
        break
      }
      case "Tripped":
        if (CircuitBreakerState.isolations(prev) > 0) {
          // An isolated circuit stays isolated.
          expect(next).toBe(prev)
          break
        }
        expect(next).toStrictEqual({
          _tag: "Open",
          generation: next.generation,
          since: now,
          openedAt: now,
          retryAt: now + policy.resetTimeout
        })
        expect(next.generation).toBeGreaterThan(prev.generation)
        break
      case "Elapsed":
        expect(next).toStrictEqual(CircuitBreakerState.advance(policy, prev, now))
        break
    }
  } else {
    const ticket = decision === undefined ? undefined : CircuitBreakerState.ticketOf(decision)
    if (ticket === undefined) {
      expect(next).toStrictEqual(CircuitBreakerState.advance(policy, prev, now))
      expect(decision?._tag).toBe("Reject")
      if (decision?._tag === "Reject") expect(decision.retryAfter).toBeGreaterThan(0)
    } else {
      // The ticket belongs to the state the call runs in.
      expect(ticket.generation).toBe(next.generation)
      expect(next._tag).toBe(ticket.trial ? "HalfOpen" : "Closed")
    }
  }
}

/** With only honest tickets, a Half-Open circuit counts exactly the trial tickets of its generation still running. */
const checkBookkeeping = (state: State, outstanding: ReadonlyArray<Ticket>) => {
  if (state._tag !== "HalfOpen") return
  const running = outstanding.filter((t) => t.trial && t.generation === state.generation).length
  expect(state.trialsInFlight).toBe(running)
}

const replay = (policy: Policy, initial: State, steps: ReadonlyArray<Step>): Array<State> => {
  const states: Array<State> = []
  let state = initial
  for (const step of steps) {
    state = apply(policy, state, step)
    states.push(state)
  }
  return states
}

// ---------------------------------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------------------------------

/** A run of any steps from any policy, and a time up to 50 s after its last step. */
const reachedThenLater = {
  params: policyParams,
  startAt: start,
  ops: anyOps,
  later: FastCheck.integer({ min: 0, max: 50_000 })
}

describe("CircuitBreakerState (properties)", () => {
  it.prop(
    "every step keeps the invariants, on frozen inputs that stay unchanged",
    { params: policyParams, startAt: start, ops: isolatingOps },
    ({ ops, params, startAt }) => {
      const policy = makePolicy(params)
      const run = simulate(policy, startAt, ops)
      checkCounters(policy, run.initial)
      for (const observed of run.observed) checkStep(policy, observed)
    },
    { fastCheck: { numRuns: 300 }, timeout: 60_000 }
  )

  it.prop(
    "with honest tickets, trialsInFlight is the number of trial tickets still running",
    { params: policyParams, startAt: start, ops: honestIsolatingOps },
    ({ ops, params, startAt }) => {
      const policy = makePolicy(params)
      const run = simulate(policy, startAt, ops)
      for (const { next, outstanding } of run.observed) checkBookkeeping(next, outstanding)
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "determinism: replaying the same steps from the same initial state gives deep-equal states",
    { params: policyParams, startAt: start, ops: isolatingOps },
    ({ ops, params, startAt }) => {
      const policy = makePolicy(params)
      const run = simulate(policy, startAt, ops)
      const expected = run.observed.map((o) => o.next)
      expect(replay(policy, CircuitBreakerState.initial(policy, startAt), run.steps)).toStrictEqual(expected)
      // A second, independently built policy with the same parameters replays to the same states too.
      expect(replay(makePolicy(params), structuredClone(run.initial), structuredClone(run.steps))).toStrictEqual(
        expected
      )
    },
    { fastCheck: { numRuns: 200 } }
  )

  it.prop(
    "the executor's shortcut for a success agrees with transition on every reachable state",
    reachedThenLater,
    ({ later, ops, params, startAt }) => {
      const policy = makePolicy(params)
      const run = simulate(policy, startAt, ops)
      const now = run.now + later
      for (const { next: state } of run.observed) {
        for (const generation of [state.generation - 1, state.generation, state.generation + 1]) {
          const event = { _tag: "Succeeded", now, generation, trial: false } as const
          const unchanged = CircuitBreakerState.transition(policy, state, event) === state
          expect(succeededLeavesClosed(policy, state, generation, now)).toBe(state._tag === "Closed" && unchanged)
        }
      }
    },
    { fastCheck: { numRuns: 200 } }
  )

  it.prop(
    "Reset from any reachable state, at any later time, gives Closed with the rule's initial tally",
    reachedThenLater,
    ({ later, ops, params, startAt }) => {
      const policy = makePolicy(params)
      const run = simulate(policy, startAt, ops)
      const now = run.now + later
      const reset = CircuitBreakerState.transition(policy, run.final, { _tag: "Reset", now })
      expect(reset).toStrictEqual({
        _tag: "Closed",
        generation: reset.generation,
        since: now,
        tally: policy.rule.initial
      })
      expect(reset.generation).toBeGreaterThan(run.final.generation)
      expect(CircuitBreakerState.decide(policy, reset, now)).toStrictEqual({
        _tag: "Admit",
        generation: reset.generation
      })
    },
    { fastCheck: { numRuns: 200 } }
  )

  it.prop(
    "an Open circuit ends resetTimeout after it opened, whatever its history",
    { params: policyParams, startAt: start, ops: anyOps, late: FastCheck.integer({ min: 0, max: 50_000 }) },
    ({ late, ops, params, startAt }) => {
      const policy = makePolicy(params)
      const run = simulate(policy, startAt, ops)
      const opened = CircuitBreakerState.transition(policy, run.final, { _tag: "Tripped", now: run.now })
      expect(opened._tag).toBe("Open")
      if (opened._tag !== "Open") return
      expect(opened.retryAt).toBe(run.now + policy.resetTimeout)
      const [decision, next] = CircuitBreakerState.admit(policy, opened, opened.retryAt + late)
      expect(decision).toStrictEqual({ _tag: "AdmitTrial", generation: opened.generation + 1 })
      expect(next).toStrictEqual({
        _tag: "HalfOpen",
        generation: opened.generation + 1,
        since: opened.retryAt,
        trialsInFlight: 1,
        successes: 0,
        permitsExpireAt: opened.retryAt + late + (policy.trialPermitTtl ?? 0)
      })
    },
    { fastCheck: { numRuns: 200 } }
  )

  it.prop(
    "N outstanding trials all Interrupted (amid stale outcomes) leave a Half-Open circuit with no trial in flight",
    {
      params: policyParams,
      startAt: start,
      history: honestOps,
      attempts: FastCheck.integer({ min: 1, max: 8 }),
      picks: FastCheck.array(FastCheck.nat(), { minLength: 30, maxLength: 30 }),
      staleOutcomes: FastCheck.array(outcome, { minLength: 100, maxLength: 100 })
    },
    ({ attempts, history, params, picks, staleOutcomes, startAt }) => {
      const policy = makePolicy(params)
      const run = simulate(policy, startAt, history)
      const stale = [...run.outstanding]
      let now = run.now
      let state: State = CircuitBreakerState.transition(policy, run.final, { _tag: "Tripped", now })
      if (state._tag !== "Open") throw new Error("Tripped must open the circuit")
      now = state.retryAt

      const trials: Array<Ticket> = []
      for (let i = 0; i < attempts; i++) {
        const [decision, next]: readonly [Decision, State] = CircuitBreakerState.admit(policy, state, now)
        const ticket = CircuitBreakerState.ticketOf(decision)
        if (ticket !== undefined) trials.push(ticket)
        state = next
        now += i % 2
      }
      const n = Math.min(attempts, trialLimit(policy))
      expect(trials).toHaveLength(n)
      expect(trials.every((t) => t.trial)).toBe(true)
      expect(state).toMatchObject({ _tag: "HalfOpen", trialsInFlight: n, successes: 0 })

      // Interrupt the trials in a random order, completing the stale tickets of the history in between.
      let k = 0
      while (trials.length > 0) {
        const before = state
        const [ticket] = trials.splice(picks[k % picks.length]! % trials.length, 1)
        state = CircuitBreakerState.transition(policy, state, { _tag: "Interrupted", now, ...ticket! })
        expect(state).toStrictEqual({ ...before, trialsInFlight: trials.length })
        const old = stale.pop()
        if (old !== undefined) {
          const unaffected = state
          state = CircuitBreakerState.transition(policy, state, { _tag: staleOutcomes[k % 100]!, now, ...old })
          expect(state).toStrictEqual(unaffected)
        }
        k++
        now += 1
      }

      expect(state).toMatchObject({ _tag: "HalfOpen", trialsInFlight: 0, successes: 0 })
      // Not stuck: the freed slots admit new trials.
      expect(CircuitBreakerState.decide(policy, state, now)).toStrictEqual({
        _tag: "AdmitTrial",
        generation: state.generation
      })
    },
    { fastCheck: { numRuns: 200 } }
  )

  it.prop(
    "whatever the events, after permitsExpireAt with no further admissions, a HalfOpen circuit admits a trial again",
    {
      params: policyParams,
      ttl: FastCheck.integer({ min: 1, max: 10_000 }),
      startAt: start,
      ops: anyOps,
      late: FastCheck.integer({ min: 0, max: 50_000 }),
      // What happens while the dead holders' permits run: stale outcomes and forged events of older generations, and
      // the mere passing of time, each at a fraction of the permits' time to live.
      meanwhile: FastCheck.array(
        FastCheck.record({
          at: FastCheck.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
          kind: FastCheck.constantFrom<Outcome | "Elapsed">(
            "Succeeded",
            "Failed",
            "TimedOut",
            "Interrupted",
            "Elapsed"
          ),
          back: FastCheck.integer({ min: 1, max: 3 }),
          trial: FastCheck.boolean()
        }),
        { maxLength: 20 }
      )
    },
    ({ late, meanwhile, ops, params, startAt, ttl }) => {
      const policy = makePolicy({ ...params, trialPermitTtl: ttl })
      const run = simulate(policy, startAt, ops)

      // Whatever the history left: a Half-Open circuit admits a trial once its permits have expired.
      const { final } = run
      if (final._tag === "HalfOpen") {
        const at = Math.max(run.now, final.permitsExpireAt) + late
        const generation = final.generation + (final.trialsInFlight > 0 ? 1 : 0)
        expect(CircuitBreakerState.decide(policy, final, at)).toStrictEqual({ _tag: "AdmitTrial", generation })
        expect(CircuitBreakerState.advance(policy, final, at)).toMatchObject({ _tag: "HalfOpen", trialsInFlight: 0 })
      }

      // Dead holders: every slot is taken, and not one of them reports back.
      let state: State = CircuitBreakerState.transition(policy, final, { _tag: "Tripped", now: run.now })
      if (state._tag !== "Open") throw new Error("Tripped must open the circuit")
      const admittedAt = state.retryAt
      for (let i = 0; i < trialLimit(policy); i++) {
        const [decision, next]: readonly [Decision, State] = CircuitBreakerState.admit(policy, state, admittedAt)
        expect(decision._tag).toBe("AdmitTrial")
        state = next
      }
      if (state._tag !== "HalfOpen") throw new Error("admitted trials must leave the circuit Half-Open")
      const wedged = state
      expect(wedged).toMatchObject({ trialsInFlight: trialLimit(policy), permitsExpireAt: admittedAt + ttl })

      const stale = [...run.outstanding]
      const times = meanwhile.map(({ at }) => admittedAt + Math.floor(at * ttl)).sort((a, b) => a - b)
      for (const [i, { back, kind, trial }] of meanwhile.entries()) {
        const now = times[i]!
        const old = stale.pop()
        const event: CircuitEvent =
          kind === "Elapsed"
            ? { _tag: "Elapsed", now }
            : old !== undefined && old.generation < wedged.generation
              ? { _tag: kind, now, ...old }
              : { _tag: kind, now, trial, generation: Math.max(0, wedged.generation - back) }
        state = CircuitBreakerState.transition(policy, state, event)
        // Nothing of another generation, and no time short of permitsExpireAt, frees a slot.
        expect(state).toStrictEqual(wedged)
        expect(CircuitBreakerState.decide(policy, state, now)._tag).toBe("Reject")
      }
      expect(CircuitBreakerState.decide(policy, state, wedged.permitsExpireAt - 1)).toStrictEqual({
        _tag: "Reject",
        retryAfter: 1
      })

      const now = wedged.permitsExpireAt + late
      expect(CircuitBreakerState.advance(policy, state, now)).toStrictEqual({
        ...wedged,
        generation: wedged.generation + 1,
        trialsInFlight: 0
      })
      const [decision, next] = CircuitBreakerState.admit(policy, state, now)
      expect(decision).toStrictEqual({ _tag: "AdmitTrial", generation: wedged.generation + 1 })
      expect(next).toStrictEqual({
        ...wedged,
        generation: wedged.generation + 1,
        trialsInFlight: 1,
        permitsExpireAt: now + ttl
      })
      // The dead holders' outcomes, should they come at last, change nothing.
      for (const outcomeTag of ["Succeeded", "Failed", "TimedOut", "Interrupted"] as const) {
        const report: CircuitEvent = { _tag: outcomeTag, now, trial: true, generation: wedged.generation }
        expect(CircuitBreakerState.transition(policy, next, report)).toStrictEqual(next)
      }
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "k isolations from any reachable state hold the circuit Open, whatever happens, until the k-th release closes it",
    { ...reachedThenLater, k: FastCheck.integer({ min: 1, max: 4 }), noise: anyOps },
    ({ k, later, noise, ops, params, startAt }) => {
      const policy = makePolicy(params)
      const run = simulate(policy, startAt, ops)
      let now = run.now + later
      let state = run.final
      for (let i = 0; i < k; i++) state = CircuitBreakerState.transition(policy, state, { _tag: "Isolated", now })
      expect(CircuitBreakerState.isolations(state)).toBe(k)
      const generation = state.generation
      // Outcomes, admissions, trips and time change nothing of an isolated circuit (Reset and Release are left out).
      for (const op of noise) {
        now += 1_000
        if (op._tag === "Admit") {
          const [decision, next] = CircuitBreakerState.admit(policy, state, now)
          expect(decision._tag).toBe("Reject")
          state = next
        } else if (op._tag === "Forge" || op._tag === "Complete") {
          const kind = op._tag === "Forge" ? op.kind : op.outcome
          state = CircuitBreakerState.transition(policy, state, { _tag: kind, now, generation, trial: true })
        } else if (op._tag === "Tripped" || op._tag === "Elapsed") {
          state = CircuitBreakerState.transition(policy, state, { _tag: op._tag, now })
        }
        expect(state).toMatchObject({ _tag: "Open", generation, isolated: k })
      }
      // A stale handle (another generation) releases nothing.
      const stale = CircuitBreakerState.transition(policy, state, { _tag: "Released", now, generation: generation - 1 })
      expect(stale).toBe(state)
      for (let i = k - 1; i >= 1; i--) {
        state = CircuitBreakerState.transition(policy, state, { _tag: "Released", now, generation })
        expect(state).toMatchObject({ _tag: "Open", isolated: i })
      }
      state = CircuitBreakerState.transition(policy, state, { _tag: "Released", now, generation })
      expect(state).toStrictEqual({
        _tag: "Closed",
        generation: generation + 1,
        since: now,
        tally: policy.rule.initial
      })
      // A handle released twice does nothing more.
      expect(CircuitBreakerState.transition(policy, state, { _tag: "Released", now, generation })).toBe(state)
    },
    { fastCheck: { numRuns: 200 } }
  )
})
