/**
 * The trip rules against the reference model of packages/core/test/windowModel.ts, over the Redis store: three breaker
 * instances (each with a store, and so a connection and a local view, of its own) share one circuit and take turns at
 * the calls. Counts go out in batches; before another instance takes its turn, the last one's are written (a `modify`
 * that changes nothing writes what is pending first). The circuit Redis holds must be the model's verdict on the union
 * of every instance's recorded calls, and every instance must come to see it.
 *
 * An instance decides on its local view, which may miss the other instances' latest counts: it may admit a call after
 * the union has tripped (its outcome belongs to a past generation and is ignored), or trip alone and be corrected by
 * what Redis holds. The model is therefore fed the calls the instances recorded, in the order Redis received them.
 */
import { CircuitBreaker, CircuitBreakerState, CircuitBreakerStore } from "@circuit-breaker/core"
import { expect, it } from "@effect/vitest"
import { Effect, Option, Scope } from "effect"
import { afterAll, beforeAll } from "vitest"
import {
  countsOf,
  type ManualClock,
  type ModelConfig,
  manualClock,
  modelCalls,
  modelConfig,
  optionsOf,
  type RecordedCall,
  rateOf,
  runCall,
  tripIndex,
  windowOf
} from "../../core/test/windowModel.js"
import { RedisCircuitBreakerStore } from "../src/index.js"
import { PATIENCE } from "./utils/busyMachine.js"
import { describeWithRedis, type RedisServer, startRedisServer } from "./utils/RedisServer.js"

const INSTANCES = 3

/** Waits, in real time, until `check` holds; fails the run otherwise. */
const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function* () {
    const start = Date.now()
    while (Date.now() - start < PATIENCE) {
      if (yield* check) return
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
    }
    return yield* Effect.die(new Error(`${what}: not within ${PATIENCE} ms`))
  })

interface Instance {
  readonly store: RedisCircuitBreakerStore.RedisStore
  readonly breaker: CircuitBreaker.CircuitBreaker
}

const makeInstance = (scope: Scope.Scope, server: RedisServer, name: string, config: ModelConfig) =>
  Effect.gen(function* () {
    // Not a test of timeouts: a store timeout a loaded machine never reaches.
    const store = yield* RedisCircuitBreakerStore.make({
      url: server.url,
      flushInterval: 20,
      syncInterval: 100,
      storeTimeout: 2_000
    }).pipe(Scope.extend(scope))
    const breaker = yield* CircuitBreaker.make({
      ...optionsOf(config),
      name,
      maxRetries: 0,
      timeout: false,
      distributedTracking: true
    }).pipe(Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store))
    return { store, breaker } satisfies Instance
  })

/** Writes what `instance` has pending, now: a `modify` that changes nothing writes the pending counts before it. */
const flush = (instance: Instance) =>
  instance.store.modify(
    instance.breaker.name,
    CircuitBreakerState.initial(instance.breaker.policy),
    (state) => [undefined, state] as const
  )

/** The window's counts, or the tag of a circuit that is not Closed. */
const viewOf = (policy: CircuitBreakerState.Policy<any>, state: CircuitBreakerState.CircuitState<unknown>) => {
  if (state._tag !== "Closed") return state._tag
  const stats = policy.rule.stats!(state.tally)
  return { calls: stats.calls, failures: stats.failures, slowCalls: stats.slowCalls }
}

let server: RedisServer | undefined
let circuits = 0

describeWithRedis("the trip rules against the model, three instances sharing a circuit through Redis", () => {
  beforeAll(async () => {
    server = await startRedisServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it.live.prop(
    "Redis holds the model's verdict on the union of the instances' calls, and every instance comes to see it",
    { config: modelConfig, calls: modelCalls(INSTANCES, 40) },
    ({ calls, config }) =>
      Effect.scoped(
        Effect.gen(function* () {
          const scope = yield* Effect.scope
          const name = `model-${++circuits}`
          const instances = yield* Effect.all(
            Array.from({ length: INSTANCES }, () => makeInstance(scope, server!, name, config))
          )
          // The breakers' clock starts at real time, so that Redis finds their Open periods plausible.
          const clock: ManualClock = manualClock(Date.now())
          const history: Array<RecordedCall> = []
          let turn: Instance | undefined
          for (const { call, instance } of calls) {
            const next = instances[instance]!
            if (turn !== undefined && turn !== next) yield* flush(turn)
            turn = next
            const recorded = yield* runCall(next.breaker, clock, call)
            if (recorded !== undefined) history.push(recorded)
          }
          if (turn !== undefined) yield* flush(turn)
          const tripped = tripIndex(config, history) >= 0
          const model = tripped ? "Open" : countsOf(config, windowOf(config, history))
          const first = instances[0]!
          const stored = yield* first.store.snapshot(name)
          const held = Option.match(stored, {
            onNone: () => viewOf(first.breaker.policy, CircuitBreakerState.initial(first.breaker.policy)),
            onSome: (snapshot) => viewOf(first.breaker.policy, snapshot.state)
          })
          expect(held).toEqual(model)
          for (const { breaker } of instances) {
            const seen = Effect.map(Effect.withClock(breaker.state, clock.clock), (state) =>
              viewOf(breaker.policy, state)
            )
            yield* eventually(
              `instance sees ${JSON.stringify(model)}`,
              Effect.map(seen, (view) => JSON.stringify(view) === JSON.stringify(model))
            )
            if (tripped || typeof model === "string") continue
            const metrics = yield* Effect.withClock(breaker.metrics, clock.clock)
            expect(metrics.failureRate).toBeCloseTo(rateOf(config, model.failures, model.calls), 9)
            expect(metrics.slowCallRate).toBeCloseTo(rateOf(config, model.slowCalls, model.calls), 9)
          }
        })
      ),
    { timeout: 120_000, fastCheck: { numRuns: 25 } }
  )
})
