/**
 * A trip's write leaves for Redis at once: in the same turn as the failing call that made it, before that call's
 * fiber goes on (its state-change log, its outcome), not a microtask later, after all of that.
 */
import { CircuitBreaker, CircuitBreakerStore } from "@circuit-breaker/core"
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { RedisCircuitBreakerStore } from "../src/index.js"
import { describeWithRedis, startRedisServer } from "./utils/RedisServer.js"

describeWithRedis("a trip made by a failing call", () => {
  it.scopedLive("sends its write before the call's fiber goes on", () =>
    Effect.gen(function* () {
      const server = yield* Effect.acquireRelease(
        Effect.promise(() => startRedisServer()),
        (s) => Effect.promise(() => s.stop())
      )
      const store = yield* RedisCircuitBreakerStore.make({ url: server.url, storeTimeout: 2_000 })
      const name = "sent-at-once"
      const breaker = yield* CircuitBreaker.make({ name, failureThreshold: 1, maxRetries: 0, timeout: false }).pipe(
        Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store)
      )
      // Written once (a reset waits for its write): the store knows the circuit's version and Redis's clock, so the
      // trip's write needs no read before it.
      yield* breaker.reset
      const client = (store as any).store.connection.client
      const write = client.circuitBreakerCompareAndSet.bind(client)
      const sent: Array<unknown> = []
      client.circuitBreakerCompareAndSet = (...args: Array<unknown>) => {
        sent.push(args[0])
        return write(...args)
      }

      const sentBeforeGoingOn = yield* Effect.exit(breaker.execute(Effect.fail("service down"))).pipe(
        Effect.zipRight(Effect.sync(() => sent.length))
      )

      expect((yield* breaker.state)._tag).toBe("Open")
      expect(sentBeforeGoingOn).toBe(1)
    })
  )
})
