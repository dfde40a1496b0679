/**
 * Every trip rule (consecutive failures, failure rate and slow-call rate over a count or time window, the minimum
 * number of calls) against the reference model of `windowModel.ts`, through the pure core and through breakers on the
 * in-memory store. The Redis store runs the same model in packages/redis/test/PoliciesModel.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as CircuitBreakerState from "../src/CircuitBreakerState.js"
import * as CircuitBreakerStore from "../src/CircuitBreakerStore.js"
import { policyOf, resolve } from "../src/internal/options.js"
import {
  countsOf,
  type ModelConfig,
  manualClock,
  modelCalls,
  modelConfig,
  optionsOf,
  type RecordedCall,
  rateOf,
  runCall,
  tripsAfter,
  windowOf
} from "./windowModel.js"

/** Checks a Closed circuit's window against the model's window of `history`. */
const expectWindow = (
  config: ModelConfig,
  policy: CircuitBreakerState.Policy<any>,
  state: CircuitBreakerState.CircuitState<unknown>,
  history: ReadonlyArray<RecordedCall>
): void => {
  expect(state._tag).toBe("Closed")
  if (state._tag !== "Closed") return
  const model = countsOf(config, windowOf(config, history))
  const stats = policy.rule.stats!(state.tally)
  expect({ calls: stats.calls, failures: stats.failures, slowCalls: stats.slowCalls }).toEqual(model)
  expect(stats.failureRate).toBeCloseTo(rateOf(config, model.failures, model.calls), 9)
  expect(stats.slowCallRate).toBeCloseTo(rateOf(config, model.slowCalls, model.calls), 9)
}

const cases = { config: modelConfig, calls: modelCalls(2, 40) }

describe("the trip rules against a model that recomputes them from the whole call history", () => {
  it.prop(
    "the pure core, with the policy the options give: open exactly when the model trips, and rejecting after",
    cases,
    ({ calls, config }) => {
      const resolved = resolve(optionsOf(config))
      if (Either.isLeft(resolved)) throw resolved.left
      const policy = policyOf(resolved.right)
      let now = 1_000_000
      let state = CircuitBreakerState.initial(policy, now)
      const history: Array<RecordedCall> = []
      let tripped = false
      for (const { call } of calls) {
        now += call.gapMs
        const [decision, admitted] = CircuitBreakerState.admit(policy, state, now)
        expect(decision._tag).toBe(tripped ? "Reject" : "Admit")
        const ticket = CircuitBreakerState.ticketOf(decision)
        if (ticket === undefined) continue
        now += call.durationMs
        const event = {
          _tag: call.failed ? "Failed" : "Succeeded",
          now,
          durationMs: call.durationMs,
          ...ticket
        } as const
        state = CircuitBreakerState.transition(policy, admitted, event)
        history.push({ ...call, end: now })
        tripped = tripsAfter(config, history)
        if (tripped) expect(state._tag).toBe("Open")
        else expectWindow(config, policy, state, history)
      }
    },
    { timeout: 60_000, fastCheck: { numRuns: 300 } }
  )

  it.effect.prop(
    "two breakers sharing a circuit on the memory store: each call admitted, and the circuit open, as the model says",
    cases,
    ({ calls, config }) =>
      Effect.gen(function* () {
        const store = CircuitBreakerStore.makeMemory()
        const clock = manualClock(1_000_000)
        const breakers = yield* Effect.all(
          [0, 1].map(() =>
            CircuitBreaker.make({ ...optionsOf(config), name: "model", maxRetries: 0, timeout: false }).pipe(
              Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store),
              Effect.withClock(clock.clock)
            )
          )
        )
        const history: Array<RecordedCall> = []
        let tripped = false
        for (const { call, instance } of calls) {
          const breaker = breakers[instance]!
          const recorded = yield* runCall(breaker, clock, call)
          expect(recorded === undefined).toBe(tripped)
          if (recorded === undefined) continue
          history.push(recorded)
          tripped = tripsAfter(config, history)
          const state = yield* Effect.withClock(breaker.state, clock.clock)
          if (tripped) expect(state._tag).toBe("Open")
          else expectWindow(config, breaker.policy, state, history)
        }
        const metrics = yield* Effect.withClock(breakers[0]!.metrics, clock.clock)
        const model = countsOf(config, windowOf(config, history))
        // A snapshot's rates are as of now: the last call's time, as the model's window.
        expect(metrics.failureRate).toBeCloseTo(tripped ? -1 : rateOf(config, model.failures, model.calls), 9)
        expect(metrics.slowCallRate).toBeCloseTo(tripped ? -1 : rateOf(config, model.slowCalls, model.calls), 9)
      }),
    { timeout: 60_000, fastCheck: { numRuns: 150 } }
  )
})
