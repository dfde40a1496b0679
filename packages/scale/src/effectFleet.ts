/**
 * The Effect API's side of a scale worker: N breakers over one Redis store (the store Layer a service builds once),
 * driven from plain callbacks.
 */
import { CircuitBreaker, CircuitBreakerStore } from "@circuit-breaker/core"
import { RedisCircuitBreakerStore } from "@circuit-breaker/redis"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Cluster, Redis } from "ioredis"
import type { WorkerSettings } from "./protocol.js"
import type { Fleet } from "./worker.js"

export const effectFleet = async (
  settings: WorkerSettings,
  client: Redis | Cluster | undefined,
  reportOpen: (circuit: string) => void
): Promise<Fleet> => {
  const scope = Effect.runSync(Scope.make())
  const build = Effect.gen(function* () {
    const store =
      client === undefined
        ? yield* RedisCircuitBreakerStore.make({ url: settings.target.kind === "single" ? settings.target.url : "" })
        : // A Cluster is accepted at run time; the types take a Redis only (issue 12, item 7).
          yield* RedisCircuitBreakerStore.makeFromClient(client as Redis)
    const breakers = yield* Effect.forEach(Array.from({ length: settings.circuits }), (_, i) =>
      CircuitBreaker.make({
        name: `circuit-${i}`,
        failureThreshold: 1,
        resetTimeout: 600_000,
        maxRetries: 0,
        distributedTracking: true
      }).pipe(Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store))
    )
    for (const breaker of breakers) {
      yield* Effect.forkIn(
        Stream.runForEach(breaker.changes, (change) =>
          Effect.sync(() => (change.to === "Open" ? reportOpen(change.circuit) : undefined))
        ),
        scope
      )
      // The store reads a circuit when it is first used.
      yield* breaker.state
    }
    return breakers
  })
  const breakers = await Effect.runPromise(Scope.extend(build, scope))
  return {
    call: (i) => void Effect.runFork(Effect.exit(breakers[i]!.execute(Effect.void))),
    trip: (i) => Effect.runPromise(breakers[i]!.trip),
    close: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await client?.quit()
    }
  }
}
