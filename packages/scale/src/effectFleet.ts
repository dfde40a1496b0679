/**
 * The Effect API's side of a scale worker: N breakers over one Redis store (the store Layer a service builds once),
 * driven from plain callbacks.
 */
import { CircuitBreaker, CircuitBreakerStore } from "@circuit-breaker/core"
import { RedisCircuitBreakerStore } from "@circuit-breaker/redis"
import { monotonicNow } from "@circuit-breaker/soak/records"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import type { Cluster, Redis } from "ioredis"
import type { WorkerSettings } from "./protocol.js"
import type { Fleet } from "./worker.js"

export const effectFleet = async (settings: WorkerSettings, client: Redis | Cluster | undefined): Promise<Fleet> => {
  const scope = Effect.runSync(Scope.make())
  const build = Effect.gen(function* () {
    const store =
      client === undefined
        ? yield* RedisCircuitBreakerStore.make({ url: settings.target.kind === "single" ? settings.target.url : "" })
        : yield* RedisCircuitBreakerStore.makeFromClient(client)
    const breakers = yield* Effect.forEach(Array.from({ length: settings.circuits }), (_, i) =>
      CircuitBreaker.make({
        name: `circuit-${i}`,
        failureThreshold: 1,
        resetTimeout: 600_000,
        maxRetries: 0,
        distributedTracking: true
      }).pipe(Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store))
    )
    // The store reads a circuit in the background when it is first used. Ready once every circuit answered a read
    // of its own, as the Promise API's fleet waits (one at a time: the background reads, 32 at once, are over by then).
    for (const breaker of breakers) yield* breaker.state
    for (let i = 0; i < settings.circuits; i++)
      yield* Effect.retry(store.get(`circuit-${i}`), { times: 500, schedule: Schedule.spaced("20 millis") })
    return breakers
  })
  const breakers = await Effect.runPromise(Scope.extend(build, scope))
  // A state read is decided on the store's local view, synchronously.
  const isOpen = (i: number) => Effect.runSync(breakers[i]!.state)._tag === "Open"
  return {
    call: (i) => void Effect.runFork(Effect.exit(breakers[i]!.execute(Effect.void))),
    trip: async (i) => {
      // As in the Promise fleet: a failing call trips the circuit, timed from the call.
      const at = monotonicNow()
      await Effect.runPromise(Effect.exit(breakers[i]!.execute(Effect.fail("service down"))))
      return isOpen(i) ? at : undefined
    },
    isOpen,
    close: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await client?.quit()
    }
  }
}
