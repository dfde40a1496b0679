/**
 * An announcement lost with no reconnection (a cluster bus link or a proxy that dropped it, the subscriber still
 * connected): a process that only reads, and never writes, still learns of the trip, through the change count of
 * each Redis node. Here the reading process's subscriber drops the messages the test tells it to.
 */
import { CircuitBreaker, CircuitBreakerStore } from "@circuit-breaker/core"
import { expect, it } from "@effect/vitest"
import { Effect, Scope } from "effect"
import type { Redis } from "ioredis"
import { RedisCircuitBreakerStore } from "../src/index.js"
import { eventLoopLag, eventually } from "./utils/busyMachine.js"
import { describeWithRedis, type RedisServer, startRedisServer } from "./utils/RedisServer.js"

const acquireServer = Effect.acquireRelease(
  Effect.promise(() => startRedisServer()),
  (server) => Effect.promise(() => server.stop())
)

const storeIn = (scope: Scope.Scope, server: RedisServer, options: RedisCircuitBreakerStore.Options = {}) =>
  RedisCircuitBreakerStore.make({
    url: server.url,
    flushInterval: 20,
    syncInterval: 200,
    storeTimeout: 2000,
    ...options
  }).pipe(Scope.extend(scope))

const breakerOn = (store: CircuitBreakerStore.Store, name: string, failureThreshold: number) =>
  CircuitBreaker.make({ name, failureThreshold, maxRetries: 0, timeout: false, resetTimeout: "1 minute" }).pipe(
    Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store)
  )

const fail = Effect.fail("service down")

/** Makes the store's subscriber drop the messages about `circuit` while `dropping` says so; counts them. */
const dropAnnouncements = (store: RedisCircuitBreakerStore.RedisStore, circuit: string) => {
  const subscriber = (store as any).store.connection.subscriber as Redis
  const emit = subscriber.emit.bind(subscriber)
  const control = { dropping: false, dropped: 0 }
  subscriber.emit = (event: string | symbol, ...args: Array<any>) => {
    if (control.dropping && event === "message" && String(args[1]).endsWith(`\n${circuit}`)) {
      control.dropped++
      return true
    }
    return emit(event, ...args)
  }
  return control
}

/** Two processes' stores on one server; `reader` never writes the circuits the test trips. */
const twoProcesses = (options: RedisCircuitBreakerStore.Options) =>
  Effect.gen(function* () {
    const server = yield* acquireServer
    const scope = yield* Effect.scope
    const writer = yield* storeIn(scope, server, options)
    const reader = yield* storeIn(scope, server, options)
    return { writer, reader }
  })

const isOpen = (breaker: CircuitBreaker.CircuitBreaker) => Effect.map(breaker.state, (s) => s._tag === "Open")

/** Waits until `reader` adopts announced counts of `name` (its subscription is in place). */
const subscribed = (writer: CircuitBreaker.CircuitBreaker, reader: CircuitBreaker.CircuitBreaker) =>
  Effect.gen(function* () {
    yield* Effect.exit(writer.execute(fail))
    yield* eventually(Effect.map(reader.state, (s) => s._tag === "Closed" && s.tally === 1))
  })

describeWithRedis("a lost announcement", () => {
  it.live("the last one: a process that never writes sees the trip within about one sync interval", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { writer, reader } = yield* twoProcesses({})
        const lag = yield* eventLoopLag
        const [tripping, watching] = yield* Effect.all([breakerOn(writer, "lost", 2), breakerOn(reader, "lost", 2)])
        yield* subscribed(tripping, watching)
        const drop = dropAnnouncements(reader, "lost")
        drop.dropping = true
        yield* Effect.exit(tripping.execute(fail))
        expect(yield* isOpen(tripping)).toBe(true)
        const tripped = Date.now()
        const ms = yield* eventually(isOpen(watching))
        expect(drop.dropped).toBeGreaterThanOrEqual(1)
        // A sync interval (200 ms), the grace for an announcement in flight (250 ms), a tick and a read.
        expect(yield* lag.running(tripped, tripped + ms)).toBeLessThan(1000)
      })
    )
  )

  it.live("one in between: the next announcement, of any circuit, shows the gap at once", () =>
    Effect.scoped(
      // No sync for a minute: only the gap in the counts can tell.
      Effect.gen(function* () {
        const { writer, reader } = yield* twoProcesses({ syncInterval: "1 minute" })
        const lag = yield* eventLoopLag
        const [tripping, watching] = yield* Effect.all([breakerOn(writer, "lost", 2), breakerOn(reader, "lost", 2)])
        const [other, otherWatched] = yield* Effect.all([breakerOn(writer, "other", 5), breakerOn(reader, "other", 5)])
        yield* subscribed(tripping, watching)
        yield* subscribed(other, otherWatched)
        const drop = dropAnnouncements(reader, "lost")
        drop.dropping = true
        yield* Effect.exit(tripping.execute(fail))
        yield* Effect.sleep("300 millis")
        expect(drop.dropped).toBeGreaterThanOrEqual(1)
        expect(yield* isOpen(watching)).toBe(false)
        yield* Effect.exit(other.execute(fail))
        const counted = Date.now()
        const ms = yield* eventually(isOpen(watching))
        expect(yield* lag.running(counted, counted + ms)).toBeLessThan(500)
      })
    )
  )
})
