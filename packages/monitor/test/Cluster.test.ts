/** The monitor in Redis mode: the circuits under the prefix, cluster-wide, and commands on them. */
import { CircuitBreaker, CircuitBreakerState, CircuitBreakerStore } from "@circuit-breaker/core"
import { CircuitBreakerOptions } from "@circuit-breaker/core/internal"
import { CircuitMonitor } from "@circuit-breaker/monitor"
import { RedisCircuitBreakerStore } from "@circuit-breaker/redis"
import { afterAll, beforeAll, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { describeWithRedis, type RedisServer, startRedisServer } from "../../redis/test/utils/RedisServer.js"

const policy = CircuitBreakerOptions.policyOf(Either.getOrThrow(CircuitBreakerOptions.resolve({})))

describeWithRedis("monitor with Redis", () => {
  let redis: RedisServer
  let scope: Scope.CloseableScope
  /** Another process's view of Redis: a store of its own. */
  let other: RedisCircuitBreakerStore.RedisStore

  beforeAll(async () => {
    redis = await startRedisServer()
    scope = Effect.runSync(Scope.make())
    other = await Effect.runPromise(
      Scope.extend(RedisCircuitBreakerStore.make({ url: redis.url, storeTimeout: 2000 }), scope)
    )
  })
  afterAll(async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await redis?.stop()
  })

  const stored = async (name: string) =>
    Option.getOrUndefined(await Effect.runPromise(other.snapshot(name)))?.state._tag

  it("lists every circuit under the prefix, and trips and resets one no breaker of this process runs", async () => {
    const name = "remote-only"
    await Effect.runPromise(
      other.modify(name, CircuitBreakerState.initial(policy, Date.now()), (s) => [
        undefined,
        CircuitBreakerState.transition(policy, s as never, { _tag: "Reset", now: Date.now() })
      ])
    )
    const monitor = await CircuitMonitor.serve({ port: 0, redis: redis.url })
    try {
      const body = (await (await fetch(`${monitor.url}circuits`)).json()) as any
      expect(body.circuits.some((c: { name: string }) => c.name === name)).toBe(false)
      expect(body.cluster.circuits).toEqual([expect.objectContaining({ name, state: "Closed" })])

      const tripped = await fetch(`${monitor.url}circuits/${name}/trip`, { method: "POST" })
      expect(await tripped.json()).toEqual({ circuit: name, action: "trip", scope: "cluster" })
      expect(await stored(name)).toBe("Open")
      const one = (await (await fetch(`${monitor.url}circuits/${name}`)).json()) as any
      expect(one.cluster).toMatchObject({ name, state: "Open" })

      await fetch(`${monitor.url}circuits/${name}/reset`, { method: "POST" })
      expect(await stored(name)).toBe("Closed")

      // Isolation: held open through two isolations until both are released.
      for (let i = 0; i < 2; i++) await fetch(`${monitor.url}circuits/${name}/isolate`, { method: "POST" })
      const isolated = Option.getOrThrow(await Effect.runPromise(other.snapshot(name))).state
      expect(isolated).toMatchObject({ _tag: "Open", isolated: 2 })
      await fetch(`${monitor.url}circuits/${name}/release`, { method: "POST" })
      expect(await stored(name)).toBe("Open")
      await fetch(`${monitor.url}circuits/${name}/release`, { method: "POST" })
      expect(await stored(name)).toBe("Closed")
      expect((await fetch(`${monitor.url}circuits/never-stored/trip`, { method: "POST" })).status).toBe(404)
    } finally {
      await monitor.close()
    }
  })

  it("a trip of a distributed breaker of this process reaches every process", async () => {
    const name = "shared-payments"
    const program = Effect.gen(function* () {
      const store = (yield* CircuitBreakerStore.CircuitBreakerStore) as RedisCircuitBreakerStore.RedisStore
      // Until Redis answers the breaker decides locally (whenUnavailable "local"): wait for it.
      while (!store.isHealthy()) {
        yield* Effect.ignore(store.get(name))
        yield* Effect.sleep("20 millis")
      }
      const breaker = yield* CircuitBreaker.make({ name, distributedTracking: true })
      yield* breaker.reset
      const monitor = yield* Effect.promise(() => CircuitMonitor.serve({ port: 0 }))
      const reply = yield* Effect.promise(() =>
        fetch(`${monitor.url}circuits/${name}/trip`, { method: "POST" }).then((r) => r.json())
      )
      yield* Effect.promise(() => monitor.close())
      // The change of state is written at once, in the background: the other store sees it shortly.
      for (let i = 0; i < 100 && (yield* Effect.promise(() => stored(name))) !== "Open"; i++) {
        yield* Effect.sleep("20 millis")
      }
      return reply
    })
    const reply = await Effect.runPromise(
      program.pipe(
        Effect.scoped,
        Effect.provide(RedisCircuitBreakerStore.layer({ url: redis.url, storeTimeout: 2000 }))
      )
    )
    expect(reply).toEqual({ circuit: name, action: "trip", scope: "cluster", state: "Open" })
    expect(await stored(name)).toBe("Open")
  })
})
