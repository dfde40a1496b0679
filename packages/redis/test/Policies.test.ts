import { CircuitBreaker, CircuitBreakerStore, TripRule } from "@circuit-breaker/core"
import { expect, it } from "@effect/vitest"
import { Effect, Option, Scope } from "effect"
import { RedisCircuitBreakerStore } from "../src/index.js"
import { describeWithRedis, type RedisServer, startRedisServer } from "./utils/RedisServer.js"

const acquireServer = Effect.acquireRelease(
  Effect.promise(() => startRedisServer()),
  (server) => Effect.promise(() => server.stop())
)

const storeIn = (scope: Scope.Scope, server: RedisServer) =>
  RedisCircuitBreakerStore.make({ url: server.url, flushInterval: 20, syncInterval: 200, storeTimeout: 2000 }).pipe(
    Scope.extend(scope)
  )

const breakerOn = (store: CircuitBreakerStore.Store, options: CircuitBreaker.CircuitBreaker.Options) =>
  CircuitBreaker.make({ maxRetries: 0, timeout: false, distributedTracking: true, ...options }).pipe(
    Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store)
  )

/** Waits, in real time, until `check` holds (at most `within` ms); fails the test otherwise. */
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, within = 3000) =>
  Effect.gen(function* () {
    const start = Date.now()
    while (Date.now() - start < within) {
      if (yield* check) return
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
    }
    return yield* Effect.die(new Error(`condition not met within ${within} ms`))
  })

const window = { failureRateThreshold: 50, slidingWindowSize: 10, minimumNumberOfCalls: 4 } as const

describeWithRedis("policies in Redis mode", () => {
  it.live("a count window is shared: the calls of two instances add up, and the union trips it", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* acquireServer
        const scope = yield* Effect.scope
        const [a, b] = yield* Effect.all([storeIn(scope, server), storeIn(scope, server)])
        const name = "shared-window"
        const [ba, bb] = yield* Effect.all([breakerOn(a, { name, ...window }), breakerOn(b, { name, ...window })])
        const rule = TripRule.countWindow(10, window)
        const callsInRedis = (n: number) =>
          Effect.map(
            a.snapshot(name),
            (s) =>
              Option.isSome(s) &&
              s.value.state._tag === "Closed" &&
              rule.isTally(s.value.state.tally) &&
              s.value.state.tally.calls === n
          )
        yield* Effect.exit(ba.execute(Effect.fail("down")))
        yield* Effect.exit(ba.execute(Effect.fail("down")))
        yield* eventually(callsInRedis(2))
        yield* bb.state // b reads the shared window
        yield* bb.execute(Effect.succeed(1))
        expect((yield* bb.state)._tag).toBe("Closed")
        yield* bb.execute(Effect.succeed(1))
        // 2 failures of a and 2 successes of b: 50 % of 4 calls.
        yield* eventually(Effect.map(bb.state, (s) => s._tag === "Open"))
        yield* eventually(Effect.map(ba.state, (s) => s._tag === "Open"))
      })
    )
  )

  it.live("a mode set in one instance holds in another", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* acquireServer
        const scope = yield* Effect.scope
        const [a, b] = yield* Effect.all([storeIn(scope, server), storeIn(scope, server)])
        const name = "shared-mode"
        const [ba, bb] = yield* Effect.all([breakerOn(a, { name }), breakerOn(b, { name })])
        yield* bb.state
        yield* ba.setMode("forcedOpen")
        yield* eventually(Effect.map(bb.mode, (mode) => mode === "forcedOpen"))
        const error = yield* Effect.flip(bb.execute(Effect.succeed(1)))
        expect(error._tag).toBe("CircuitOpenError")
        yield* bb.setMode("normal")
        yield* eventually(Effect.map(ba.mode, (mode) => mode === "normal"))
        expect(yield* ba.execute(Effect.succeed(2))).toBe(2)
      })
    )
  )
})
