/**
 * The faults found by the distributed soak (issue 12, "Why"), each reproduced against a real redis-server:
 * a change written behind a write in flight, a corrupt key or an error about one key that must not reach other
 * circuits or the store's health, corrupt values decoded with bounds and repaired, a trip that outlives Redis's data,
 * and calls that never wait on an unreachable Redis unless they are an admitted trial.
 */
import { CircuitBreaker, CircuitBreakerStore } from "@circuit-breaker/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Logger, Option, Scope } from "effect"
import { Redis } from "ioredis"
import { RedisCircuitBreakerStore } from "../src/index.js"
import { eventLoopLag, PATIENCE } from "./utils/busyMachine.js"
import { describeWithRedis, type RedisServer, startRedisServer } from "./utils/RedisServer.js"

const acquireServer = Effect.acquireRelease(
  Effect.promise(() => startRedisServer()),
  (server) => Effect.promise(() => server.stop())
)

/** Store timeouts far above any event-loop lag on a busy machine: these tests are not about timeouts. */
const storeIn = (scope: Scope.Scope, server: RedisServer, options: RedisCircuitBreakerStore.Options = {}) =>
  RedisCircuitBreakerStore.make({
    url: server.url,
    flushInterval: 20,
    syncInterval: 200,
    storeTimeout: 1000,
    ...options
  }).pipe(Scope.extend(scope))

const breakerOn = (store: CircuitBreakerStore.Store, options: CircuitBreaker.CircuitBreaker.Options) =>
  CircuitBreaker.make({ maxRetries: 0, timeout: false, resetTimeout: "1 minute", ...options }).pipe(
    Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store)
  )

const fail = Effect.fail("service down")
const stateOf = (breaker: CircuitBreaker.CircuitBreaker) => Effect.map(breaker.state, (s) => s._tag)
const sleep = (ms: number) => Effect.sleep(Duration.millis(ms))

/** Waits, in real time, until `check` holds (at most `within` ms); returns how long it took, or fails the test. */
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, within = 3000) =>
  Effect.gen(function* () {
    const start = Date.now()
    while (Date.now() - start < within) {
      if (yield* check) return Date.now() - start
      yield* sleep(5)
    }
    return yield* Effect.die(new Error(`condition not met within ${within} ms`))
  })

const keyOf = (name: string) => `cb:v1:{${name}}:s`

/** One command on a connection of the test's own, with its reply parsed. */
const redisCall = (server: RedisServer, ...args: [string, ...Array<string>]) =>
  Effect.acquireUseRelease(
    Effect.sync(() => new Redis(server.url, { maxRetriesPerRequest: 1 })),
    (redis) => Effect.promise(() => redis.call(...args)),
    (redis) => Effect.promise(() => redis.quit())
  )
const storedTag = (store: RedisCircuitBreakerStore.RedisStore, name: string) =>
  Effect.map(Effect.either(store.snapshot(name)), (s) =>
    Either.isRight(s) && Option.isSome(s.right) ? s.right.value.state._tag : "none"
  )

/** A logger that keeps every message, for the tests that check what is logged. */
const captureLogs = () => {
  const lines: Array<string> = []
  const layer = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ message }) => lines.push(String(message)))
  )
  return { lines, layer }
}

describeWithRedis("issue 12 faults", () => {
  it.live("1. a change made while a write is in flight is written right after it, not at the next tick", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* acquireServer
        const scope = yield* Effect.scope
        const lag = yield* eventLoopLag
        // A tick every 10 s: a change left for the next tick would not reach Redis within this test.
        const a = yield* storeIn(scope, server, { flushInterval: 10_000, syncInterval: 10_000 })
        const b = yield* storeIn(scope, server)
        const name = "queued"
        const ba = yield* breakerOn(a, { name })
        const bb = yield* breakerOn(b, { name })
        yield* Effect.all([stateOf(ba), stateOf(bb)])
        yield* eventually(Effect.sync(() => a.isHealthy() && b.isHealthy()))
        yield* sleep(50) // each store has read the circuit
        // Writes wait 300 ms on the server: the trip's write is in flight when the reset is made.
        yield* Effect.promise(() => server.command("CLIENT", "PAUSE", "300", "WRITE"))
        yield* ba.trip
        yield* sleep(20)
        yield* ba.reset
        const reset = Date.now()
        const ms = yield* eventually(
          Effect.map(b.snapshot(name), (s) => Option.isSome(s) && s.value.state.generation === 2),
          PATIENCE
        )
        // Counting the time this process could run (see busyMachine.ts).
        expect(yield* lag.running(reset, reset + ms)).toBeLessThan(2000)
        yield* eventually(Effect.map(stateOf(bb), (s) => s === "Closed"))
      })
    )
  )

  it.live("2. a corrupt version on one circuit leaves the clock and every other circuit sound", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* acquireServer
        const scope = yield* Effect.scope
        yield* Effect.promise(() => server.command("HSET", keyOf("poisoned"), "v", "not-a-number", "st", "{}"))
        const a = yield* storeIn(scope, server)
        const b = yield* storeIn(scope, server)
        // The corrupt key is read first: its read must not break the store's clock.
        const poisoned = yield* breakerOn(a, { name: "poisoned" })
        expect(yield* stateOf(poisoned)).toBe("Closed")
        expect(Either.isLeft(yield* Effect.either(a.snapshot("poisoned")))).toBe(true)
        const healthy = yield* breakerOn(a, { name: "healthy" })
        const other = yield* breakerOn(b, { name: "healthy" })
        yield* stateOf(other)
        yield* healthy.trip
        yield* eventually(Effect.map(stateOf(other), (s) => s === "Open"))
        const stored = yield* redisCall(server, "HGET", keyOf("healthy"), "st")
        const state = JSON.parse(String(stored))
        for (const field of ["since", "openedAt", "retryAt"]) expect(Number.isFinite(state[field])).toBe(true)
        expect(a.isHealthy()).toBe(true)
      })
    )
  )

  it.live("3. WRONGTYPE on one circuit's key is that circuit's trouble: the store stays healthy", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* acquireServer
        const scope = yield* Effect.scope
        yield* Effect.promise(() => server.command("SET", keyOf("string-key"), "x"))
        const store = yield* storeIn(scope, server, { whenUnavailable: "reject" })
        const broken = yield* breakerOn(store, { name: "string-key", failureThreshold: 1 })
        const healthy = yield* breakerOn(store, { name: "fine" })
        yield* stateOf(healthy)
        yield* eventually(Effect.sync(() => store.isHealthy()))
        let rejected = 0
        for (let i = 0; i < 60; i++) {
          yield* Effect.exit(broken.execute(fail))
          const result = yield* Effect.either(healthy.execute(Effect.succeed(i)))
          if (Either.isLeft(result)) rejected++
        }
        expect(rejected).toBe(0)
        expect(store.isHealthy()).toBe(true)
        // The failure tripped the circuit, and the trip was written over the string.
        expect(yield* redisCall(server, "TYPE", keyOf("string-key"))).toBe("hash")
        yield* eventually(Effect.map(storedTag(store, "string-key"), (tag) => tag === "Open"))
      })
    )
  )

  describe("4. corrupt values are refused with bounds, logged once, and repaired", () => {
    it.live("a string tally does not turn tripping off; Redis ends up holding a sound state", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* acquireServer
          const scope = yield* Effect.scope
          const now = Date.now()
          const corrupt = JSON.stringify({ _tag: "Closed", generation: 0, since: now, tally: "abc" })
          yield* Effect.promise(() => server.command("HSET", keyOf("tally"), "v", "3", "i", "x", "st", corrupt))
          const logs = captureLogs()
          const store = yield* storeIn(scope, server).pipe(Effect.provide(logs.layer))
          const breaker = yield* breakerOn(store, { name: "tally", failureThreshold: 3 })
          expect(yield* stateOf(breaker)).toBe("Closed")
          yield* sleep(50)
          for (let i = 0; i < 3; i++) yield* Effect.exit(breaker.execute(fail))
          expect(yield* stateOf(breaker)).toBe("Open")
          yield* eventually(Effect.map(storedTag(store, "tally"), (tag) => tag === "Open"))
          expect(logs.lines.filter((line) => line.includes("corrupt")).length).toBe(1)
        })
      )
    )

    it.live("an Open state whose retryAt is in the year 3000 does not keep the circuit open", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* acquireServer
          const scope = yield* Effect.scope
          const now = Date.now()
          const year3000 = Date.UTC(3000, 0, 1)
          const corrupt = JSON.stringify({ _tag: "Open", generation: 1, since: now, openedAt: now, retryAt: year3000 })
          yield* Effect.promise(() => server.command("HSET", keyOf("forever"), "v", "1", "i", "x", "st", corrupt))
          const store = yield* storeIn(scope, server)
          const breaker = yield* breakerOn(store, { name: "forever" })
          yield* stateOf(breaker)
          yield* sleep(100)
          expect(yield* stateOf(breaker)).toBe("Closed")
          expect(yield* breaker.execute(Effect.succeed("ok"))).toBe("ok")
        })
      )
    )

    for (const [what, fields] of [
      ["bad JSON", ["v", "2", "i", "x", "st", "{not json"]],
      ["a missing field", ["v", "2", "i", "x", "st", JSON.stringify({ _tag: "Open", generation: 1 })]],
      ["an unknown _tag", ["v", "2", "i", "x", "st", JSON.stringify({ _tag: "Ajar", generation: 1, since: 1 })]],
      ["a negative version", ["v", "-4", "i", "x", "st", "{}"]]
    ] as const) {
      it.live(`${what}: logged once a minute, and reset() repairs the key at once`, () =>
        Effect.scoped(
          Effect.gen(function* () {
            const server = yield* acquireServer
            const scope = yield* Effect.scope
            const name = `corrupt-${what.replace(/\W/g, "-")}`
            yield* Effect.promise(() => server.command("HSET", keyOf(name), ...fields))
            const logs = captureLogs()
            const store = yield* storeIn(scope, server).pipe(Effect.provide(logs.layer))
            const breaker = yield* breakerOn(store, { name })
            yield* stateOf(breaker)
            // Read again (a subscriber reconnection reads every circuit): reported once.
            yield* sleep(100)
            yield* Effect.promise(() => server.command("CLIENT", "KILL", "TYPE", "pubsub"))
            yield* sleep(300)
            yield* eventually(Effect.sync(() => logs.lines.some((line) => line.includes("corrupt"))))
            yield* breaker.reset
            yield* eventually(Effect.map(storedTag(store, name), (tag) => tag === "Closed"))
            expect(logs.lines.filter((line) => line.includes("corrupt")).length).toBe(1)
          })
        )
      )
    }
  })

  for (const loss of ["FLUSHALL", "a restart empty"] as const) {
    it.live(`5. a trip outlives ${loss}: every process converges on Open`, () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* acquireServer
          const scope = yield* Effect.scope
          const [a, b] = yield* Effect.all([storeIn(scope, server), storeIn(scope, server)])
          const name = "survivor"
          const ba = yield* breakerOn(a, { name })
          const bb = yield* breakerOn(b, { name })
          yield* Effect.all([stateOf(ba), stateOf(bb)])
          yield* ba.trip
          yield* eventually(Effect.map(stateOf(bb), (s) => s === "Open"))
          if (loss === "FLUSHALL") yield* Effect.promise(() => server.command("FLUSHALL"))
          else {
            yield* Effect.promise(() => server.kill())
            yield* Effect.promise(() => server.restart())
          }
          yield* eventually(
            Effect.map(storedTag(a, name), (tag) => tag === "Open"),
            5000
          )
          // 1.5 s after the loss, and later still, every process holds Open.
          yield* sleep(1500)
          expect(yield* stateOf(ba)).toBe("Open")
          expect(yield* stateOf(bb)).toBe("Open")
          expect(yield* storedTag(b, name)).toBe("Open")
        })
      )
    )
  }

  it.live("an isolation is written at once, shared, outlives FLUSHALL, and its key does not expire", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* acquireServer
        const scope = yield* Effect.scope
        const [a, b] = yield* Effect.all([storeIn(scope, server), storeIn(scope, server)])
        const name = "isolated"
        const initial = { _tag: "Closed", generation: 0, since: Date.now(), tally: 0 } as const
        const isolated = { _tag: "Open", generation: 1, since: Date.now(), openedAt: Date.now(), isolated: 2 } as const
        b.unsafeGet!(name, initial)
        yield* sleep(50)
        a.unsafeModify!(name, initial, () => [undefined, { ...isolated, retryAt: Date.now() + 1000 }])
        yield* eventually(Effect.sync(() => (b.unsafeGet!(name, initial) as { isolated?: number }).isolated === 2))
        expect(yield* redisCall(server, "PTTL", keyOf(name))).toBe(-1)
        yield* redisCall(server, "FLUSHALL")
        yield* eventually(
          Effect.map(
            a.snapshot(name),
            (s) => Option.isSome(s) && (s.value.state as { isolated?: number }).isolated === 2
          ),
          5000
        )
      })
    )
  )

  it.live("6. while Redis is unreachable, a Half-Open circuit decides every call at once; only a trial waits", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* acquireServer
        const scope = yield* Effect.scope
        const lag = yield* eventLoopLag
        const store = yield* storeIn(scope, server, { storeTimeout: 2000 })
        const breaker = yield* breakerOn(store, { name: "half-open", resetTimeout: 100, successThreshold: 1 })
        yield* stateOf(breaker)
        yield* eventually(Effect.sync(() => store.isHealthy()))
        yield* breaker.trip
        yield* sleep(150)
        server.freeze()
        try {
          // The first command to time out marks Redis unreachable (a trial asked for now may wait for it).
          yield* eventually(
            Effect.sync(() => !store.isHealthy()),
            10_000
          )
          const slow = Effect.promise(() => new Promise((resolve) => setTimeout(() => resolve("ok"), 300)))
          const timings = yield* Effect.forEach(
            Array.from({ length: 20 }, (_, i) => i),
            () =>
              Effect.gen(function* () {
                const t0 = Date.now()
                const result = yield* Effect.either(breaker.execute(slow))
                return { from: t0, to: Date.now(), admitted: Either.isRight(result) }
              }),
            { concurrency: "unbounded" }
          )
          const rejected = timings.filter((t) => !t.admitted)
          // One local trial runs (300 ms); every other call is rejected on the local view, without the 2 s wait.
          expect(timings.filter((t) => t.admitted).length).toBe(1)
          // Counting the time this process could run (see busyMachine.ts).
          yield* lag.settle
          for (const t of rejected) expect(t.to - t.from - lag.stalledBetween(t.from, t.to)).toBeLessThan(1000)
        } finally {
          server.thaw()
        }
      })
    )
  )

  it.live("a reply that arrived while the process could not run is taken: no timeout, Redis still reachable", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* acquireServer
        const store = yield* storeIn(yield* Effect.scope, server, { storeTimeout: 100 })
        yield* eventually(Effect.map(Effect.either(store.get("warm-up")), Either.isRight))
        const client = (store as any).store.connection.client as Redis
        const read = yield* Effect.fork(Effect.either(store.get("stalled")))
        // The read is sent (in the microtasks that follow), and its reply not yet read (that needs the sockets' turn).
        for (let i = 0; i < 100 && client.commandQueue.length === 0; i++) yield* Effect.yieldNow()
        expect(client.commandQueue.length).toBe(1)
        // The process cannot run for three store timeouts: the reply arrives meanwhile, and every timer is due.
        const until = Date.now() + 300
        while (Date.now() < until) {}
        const result = yield* Fiber.join(read)
        expect(Either.isRight(result)).toBe(true)
        expect(store.isHealthy()).toBe(true)
      })
    )
  )
})
