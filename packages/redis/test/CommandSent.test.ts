/**
 * A store command leaves for Redis in the same turn as the effect that runs it, when the connection is up: not a
 * microtask later, after whatever else the process does first (a failing call's own bookkeeping, after the trip it
 * made). (A command run before the connection is up waits for it, as before: the start-up tests cover that.)
 */
import { expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { RedisCircuitBreakerStore } from "../src/index.js"
import { describeWithRedis, startRedisServer } from "./utils/RedisServer.js"

const serverIn = Effect.acquireRelease(
  Effect.promise(() => startRedisServer()),
  (server) => Effect.promise(() => server.stop())
)

/** The store's connection: `run` is what every store command goes through. */
const connectionOf = (store: RedisCircuitBreakerStore.RedisStore) =>
  (store as any).store.connection as {
    readonly client: { readonly status: string; ping(): Promise<string> }
    run<A>(what: string, f: () => Promise<A>): Effect.Effect<A, unknown>
  }

describeWithRedis("a store command", () => {
  it.scopedLive("is sent as its effect runs when the connection is up", () =>
    Effect.gen(function* () {
      const server = yield* serverIn
      const store = yield* RedisCircuitBreakerStore.make({ url: server.url, storeTimeout: 2_000 })
      const connection = connectionOf(store)
      yield* connection.run("connected", () => connection.client.ping())
      expect(connection.client.status).toBe("ready")
      let sent = false
      // Run at once, outside this fiber: a forked child would begin only when this fiber yields.
      // @effect-diagnostics-next-line runEffectInsideEffect:off
      const fiber = Effect.runFork(
        connection.run("probe", () => {
          sent = true
          return connection.client.ping()
        })
      )
      // Nothing ran between the fork and this line: no microtask, no timer.
      const sentAtOnce = sent
      expect(yield* Fiber.join(fiber)).toBe("PONG")
      expect(sentAtOnce).toBe(true)
    })
  )
})
