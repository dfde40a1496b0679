import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as CircuitBreakerState from "../src/CircuitBreakerState.js"
import * as TripRule from "../src/TripRule.js"

type State = CircuitBreakerState.CircuitState<unknown>
type Policy = CircuitBreakerState.Policy<any>

const { admit, decide, transition } = CircuitBreakerState

const base: Policy = { rule: TripRule.consecutiveFailures(1), resetTimeout: 1000, successThreshold: 1 }

/** Admits a call at `now` and reports its outcome at `now + durationMs`. */
const call = (
  policy: Policy,
  state: State,
  now: number,
  outcome: "Succeeded" | "Failed",
  extra: { durationMs?: number; retryAfter?: number } = {}
): State => {
  const [decision, admitted] = admit(policy, state, now)
  const ticket = CircuitBreakerState.ticketOf(decision)
  if (ticket === undefined) throw new Error(`rejected at ${now}`)
  return transition(policy, admitted, { _tag: outcome, now: now + (extra.durationMs ?? 0), ...ticket, ...extra })
}

const retryAt = (state: State): number => {
  if (state._tag !== "Open") throw new Error(`expected Open, got ${state._tag}`)
  return state.retryAt
}

describe("the state machine with durations: slow calls", () => {
  const policy: Policy = {
    ...base,
    rule: TripRule.countWindow(4, {
      slowCallRateThreshold: 50,
      slowCallDurationThreshold: 100,
      minimumNumberOfCalls: 4
    })
  }

  it("slow successes trip the circuit once the slow-call rate reaches its threshold", () => {
    let state: State = CircuitBreakerState.initial(policy)
    state = call(policy, state, 0, "Succeeded", { durationMs: 150 })
    state = call(policy, state, 200, "Succeeded", { durationMs: 10 })
    state = call(policy, state, 300, "Succeeded", { durationMs: 10 })
    expect(state._tag).toBe("Closed")
    state = call(policy, state, 400, "Succeeded", { durationMs: 101 })
    expect(state).toMatchObject({ _tag: "Open", openedAt: 501, retryAt: 1501 })
  })

  it("a call exactly at the threshold is not slow, and a call of unknown duration never is", () => {
    let state: State = CircuitBreakerState.initial(policy)
    for (const [i, durationMs] of [100, 100, undefined, undefined].entries()) {
      state = call(policy, state, i * 1000, "Succeeded", durationMs === undefined ? {} : { durationMs })
    }
    expect(state._tag).toBe("Closed")
  })
})

describe("the state machine: openBackoff and Retry-After", () => {
  const policy: Policy = { ...base, openBackoff: { multiplier: 2, maxResetTimeout: 5000 } }

  it("each failed trial lengthens the next open period, up to maxResetTimeout; closing returns to the base", () => {
    let state: State = call(policy, CircuitBreakerState.initial(policy), 0, "Failed")
    const periods: Array<number> = []
    let now = 0
    for (let i = 0; i < 5; i++) {
      periods.push(retryAt(state) - now)
      now = retryAt(state)
      state = call(policy, state, now, "Failed")
    }
    expect(periods).toEqual([1000, 2000, 4000, 5000, 5000])
    now = retryAt(state)
    state = call(policy, state, now, "Succeeded")
    expect(state._tag).toBe("Closed")
    state = call(policy, state, now + 1, "Failed")
    expect(retryAt(state) - (now + 1)).toBe(1000)
  })

  it("without openBackoff every open period is resetTimeout", () => {
    let state: State = call(base, CircuitBreakerState.initial(base), 0, "Failed")
    for (let i = 0; i < 3; i++) state = call(base, state, retryAt(state), "Failed")
    expect(state).toMatchObject({ _tag: "Open", retryAt: 4000 })
    expect(state).not.toHaveProperty("reopenings")
  })

  it("a failure with a Retry-After keeps the circuit Open at least that long, capped by maxResetTimeout", () => {
    expect(retryAt(call(policy, CircuitBreakerState.initial(policy), 0, "Failed", { retryAfter: 3000 }))).toBe(3000)
    expect(retryAt(call(policy, CircuitBreakerState.initial(policy), 0, "Failed", { retryAfter: 60_000 }))).toBe(5000)
    expect(retryAt(call(policy, CircuitBreakerState.initial(policy), 0, "Failed", { retryAfter: 10 }))).toBe(1000)
    const trial = call(policy, CircuitBreakerState.initial(policy), 0, "Failed")
    expect(retryAt(call(policy, trial, 1000, "Failed", { retryAfter: 4500 }))).toBe(5500)
  })
})

describe("the state machine: maxWaitInHalfOpen", () => {
  const policy: Policy = { ...base, successThreshold: 2, maxWaitInHalfOpen: 500 }

  it("a Half-Open circuit whose trials do not finish in time opens again; their late outcomes are stale", () => {
    const opened = call(policy, CircuitBreakerState.initial(policy), 0, "Failed")
    const [decision, trial] = admit(policy, opened, 1200)
    expect(decision._tag).toBe("AdmitTrial")
    expect(trial).toMatchObject({ _tag: "HalfOpen", since: 1000, firstTrialAt: 1200 })
    expect(CircuitBreakerState.advance(policy, trial, 1699)._tag).toBe("HalfOpen")
    const reopened = CircuitBreakerState.advance(policy, trial, 1700)
    expect(reopened).toMatchObject({ _tag: "Open", openedAt: 1700, retryAt: 2700 })
    const late = transition(policy, reopened, {
      _tag: "Succeeded",
      now: 1800,
      generation: trial.generation,
      trial: true
    })
    expect(late).toBe(reopened)
  })

  it("an idle Half-Open circuit waits for its first trial; a reopened one half-opens again on time", () => {
    const opened = call(policy, CircuitBreakerState.initial(policy), 0, "Failed")
    expect(decide(policy, opened, 100_000)._tag).toBe("AdmitTrial")
    const [, trial] = admit(policy, opened, 1000)
    const later = CircuitBreakerState.advance(policy, trial, 3000)
    expect(later).toMatchObject({ _tag: "HalfOpen", since: 2500 })
    expect(later).not.toHaveProperty("firstTrialAt")
  })
})

describe("the state machine: modes", () => {
  const policy: Policy = { ...base, rule: TripRule.consecutiveFailures(2) }
  const inMode = (mode: CircuitBreakerState.Mode, state: State = CircuitBreakerState.initial(policy), now = 0) =>
    transition(policy, state, { _tag: "ModeChanged", now, mode })

  it("forcedOpen rejects every call for as long as it holds", () => {
    const state = inMode("forcedOpen")
    expect(state).toMatchObject({ _tag: "Open", mode: "forcedOpen" })
    expect(CircuitBreakerState.modeOf(state)).toBe("forcedOpen")
    expect(decide(policy, state, 10 ** 12)).toEqual({ _tag: "Reject", retryAfter: 1000 })
    expect(CircuitBreakerState.advance(policy, state, 10 ** 12)).toBe(state)
  })

  it("forcedClosed and metricsOnly record outcomes but never trip; disabled records nothing", () => {
    for (const mode of ["forcedClosed", "metricsOnly"] as const) {
      let state = inMode(mode, call(policy, CircuitBreakerState.initial(policy), 0, "Failed"))
      for (let i = 1; i <= 5; i++) state = call(policy, state, i, "Failed")
      expect(state).toMatchObject({ _tag: "Closed", tally: 5, mode })
    }
    const disabled = inMode("disabled")
    expect(call(policy, disabled, 1, "Failed")).toBe(disabled)
  })

  it("normal closes the circuit afresh; setting the mode it has changes nothing; reset and trip go back to normal", () => {
    const forced = inMode("forcedOpen")
    const normal = inMode("normal", forced, 5)
    expect(normal).toEqual({ _tag: "Closed", generation: forced.generation + 1, since: 5, tally: 0 })
    expect(inMode("normal", normal)).toBe(normal)
    expect(transition(policy, forced, { _tag: "Reset", now: 7 })).not.toHaveProperty("mode")
    const tripped = transition(policy, inMode("forcedClosed"), { _tag: "Tripped", now: 7 })
    expect(tripped).toMatchObject({ _tag: "Open", retryAt: 1007 })
    expect(CircuitBreakerState.modeOf(tripped)).toBe("normal")
  })

  const outcome = FastCheck.record({
    wait: FastCheck.integer({ min: 0, max: 5000 }),
    failed: FastCheck.boolean(),
    durationMs: FastCheck.integer({ min: 0, max: 500 })
  })

  it.prop(
    "no sequence of calls opens a forcedClosed, metricsOnly or disabled circuit, or closes a forcedOpen one",
    {
      mode: FastCheck.constantFrom<CircuitBreakerState.Mode>("forcedClosed", "metricsOnly", "disabled", "forcedOpen"),
      outcomes: FastCheck.array(outcome, { maxLength: 50 })
    },
    ({ mode, outcomes }) => {
      let state = inMode(mode)
      let now = 0
      for (const o of outcomes) {
        now += o.wait
        const [decision, admitted] = admit(policy, state, now)
        const ticket = CircuitBreakerState.ticketOf(decision)
        expect(ticket === undefined).toBe(mode === "forcedOpen")
        state =
          ticket === undefined
            ? admitted
            : transition(policy, admitted, {
                _tag: o.failed ? "Failed" : "Succeeded",
                now: now + o.durationMs,
                durationMs: o.durationMs,
                ...ticket
              })
        expect(state._tag).toBe(mode === "forcedOpen" ? "Open" : "Closed")
        expect(CircuitBreakerState.modeOf(state)).toBe(mode)
      }
    }
  )
})
