import { CircuitBreaker, CircuitBreakerStore } from "@circuit-breaker/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Logger, Option, Scope } from "effect"
import { Redis } from "ioredis"
import { RedisCircuitBreakerStore } from "../src/index.js"
import { eventLoopLag, eventually } from "./utils/busyMachine.js"
import { describeWithRedis, type RedisServer, startRedisServer } from "./utils/RedisServer.js"

const acquireServer = (options?: Parameters<typeof startRedisServer>[0]) =>
  Effect.acquireRelease(
    Effect.promise(() => startRedisServer(options)),
    (server) => Effect.promise(() => server.stop())
  )

/**
 * The store timeout of tests that are not about timeouts: long enough that a loaded machine never times a command out
 * (which would turn the test into one about Redis being away). Tests about timeouts set their own.
 */
const ROOMY_STORE_TIMEOUT = 2_000

/** A store over `server`, in `scope`, with short intervals so that tests run fast. */
const storeIn = (scope: Scope.Scope, server: RedisServer, options: RedisCircuitBreakerStore.Options = {}) =>
  RedisCircuitBreakerStore.make({
    url: server.url,
    flushInterval: 20,
    syncInterval: 200,
    storeTimeout: ROOMY_STORE_TIMEOUT,
    ...options
  }).pipe(Scope.extend(scope))

const breakerOn = (store: CircuitBreakerStore.Store, options: CircuitBreaker.CircuitBreaker.Options) =>
  CircuitBreaker.make({ maxRetries: 0, timeout: false, ...options }).pipe(
    Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store)
  )

const fail = Effect.fail("service down")

/** Lets Redis run the store's writes but holds their replies until `release()`; `waiting` counts the held ones. */
const holdWriteReplies = (store: RedisCircuitBreakerStore.RedisStore) => {
  const client = (store as any).store.connection.client
  const write = client.circuitBreakerCompareAndSet.bind(client)
  let release!: () => void
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  const control = { waiting: 0, release: () => release() }
  client.circuitBreakerCompareAndSet = (...args: Array<unknown>) => {
    control.waiting++
    return write(...args).then(async (reply: unknown) => {
      await released
      control.waiting--
      return reply
    })
  }
  return control
}

const stateOf = (breaker: CircuitBreaker.CircuitBreaker) => Effect.map(breaker.state, (s) => s._tag)

/** Two processes' stores on a server of the test's own, a breaker on circuit `name` in each, both read once. */
const twoInstances = (name: string, failureThreshold: number, aOptions: RedisCircuitBreakerStore.Options) =>
  Effect.gen(function* () {
    const server = yield* acquireServer()
    const scope = yield* Effect.scope
    const a = yield* storeIn(scope, server, aOptions)
    const b = yield* storeIn(scope, server)
    const [ba, bb] = yield* Effect.all([
      breakerOn(a, { name, failureThreshold }),
      breakerOn(b, { name, failureThreshold })
    ])
    yield* Effect.forEach([ba, bb], stateOf)
    return { a, b, ba, bb, name }
  })

describeWithRedis("RedisCircuitBreakerStore", () => {
  describe("one circuit across processes", () => {
    it.live("failures seen by every instance add up, and a trip reaches the others within milliseconds", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* acquireServer()
          const scope = yield* Effect.scope
          const lag = yield* eventLoopLag
          const [a, b, c] = yield* Effect.all([storeIn(scope, server), storeIn(scope, server), storeIn(scope, server)])
          const name = "payments"
          const [ba, bb, bc] = yield* Effect.all([
            breakerOn(a, { name, failureThreshold: 3 }),
            breakerOn(b, { name, failureThreshold: 3 }),
            breakerOn(c, { name, failureThreshold: 3 })
          ])
          // Each process learns the shared state when it first uses the circuit.
          yield* Effect.forEach([ba, bb, bc], stateOf)
          yield* Effect.exit(ba.execute(fail))
          yield* Effect.exit(bb.execute(fail))
          // Counts go out in batches: wait until both reached Redis.
          yield* eventually(
            Effect.map(
              a.snapshot(name),
              (s) => Option.isSome(s) && s.value.state._tag === "Closed" && s.value.state.tally === 2
            )
          )
          yield* eventually(Effect.map(c.snapshot(name), (s) => Option.isSome(s)))
          // Let c's poll adopt the shared tally.
          yield* eventually(Effect.map(bc.state, (s) => s._tag === "Closed" && s.tally === 2))
          yield* Effect.exit(bc.execute(fail))
          expect(yield* stateOf(bc)).toBe("Open")
          const watched = Date.now()
          const ms = yield* eventually(
            Effect.map(stateOf(ba), (s) => s === "Open"),
            500
          )
          expect(yield* lag.running(watched, watched + ms)).toBeLessThan(100)
          yield* eventually(
            Effect.map(stateOf(bb), (s) => s === "Open"),
            500
          )
          const rejected = yield* Effect.flip(bb.execute(Effect.succeed(1)))
          expect(rejected._tag).toBe("CircuitOpenError")
        })
      )
    )

    it.live(
      "counts of its own that trip the circuit once the others' arrive are written at once, not at the next tick",
      () =>
        Effect.scoped(
          Effect.gen(function* () {
            // a's counts would go out only after a minute; b's within milliseconds.
            const { b, ba, bb, name } = yield* twoInstances("checkout", 4, { flushInterval: 60_000 })
            yield* Effect.exit(ba.execute(fail))
            yield* Effect.exit(ba.execute(fail))
            yield* Effect.exit(bb.execute(fail))
            yield* Effect.exit(bb.execute(fail))
            expect(yield* stateOf(bb)).toBe("Closed")
            // b's two failures reach a, whose own two, replayed on them, reach the threshold there.
            yield* eventually(Effect.map(stateOf(ba), (s) => s === "Open"))
            // That trip is stored and announced at once: b, which saw only its own two, learns it.
            yield* eventually(Effect.map(b.snapshot(name), (s) => Option.isSome(s) && s.value.state._tag === "Open"))
            yield* eventually(Effect.map(stateOf(bb), (s) => s === "Open"))
          })
        )
    )

    it.live(
      "a trip announced while this process's own write is unanswered is adopted at once; that write's older reply leaves it",
      () =>
        Effect.scoped(
          Effect.gen(function* () {
            // The held reply below must not time out: this test is not about timeouts.
            const { a, ba, bb, name } = yield* twoInstances("inventory", 3, { storeTimeout: 60_000 })
            // The key exists, and a knows it.
            yield* Effect.exit(bb.execute(fail))
            yield* eventually(Effect.map(ba.state, (s) => s._tag === "Closed" && s.tally === 1))
            const held = holdWriteReplies(a)
            // a's count is written (Redis runs it) and its reply held: a is writing.
            yield* Effect.exit(ba.execute(fail))
            yield* eventually(Effect.sync(() => held.waiting > 0))
            // b learns that count and trips on top of it.
            yield* eventually(Effect.map(bb.state, (s) => s._tag === "Closed" && s.tally === 2))
            yield* Effect.exit(bb.execute(fail))
            expect(yield* stateOf(bb)).toBe("Open")
            yield* eventually(Effect.map(stateOf(ba), (s) => s === "Open"))
            expect(held.waiting).toBeGreaterThan(0)
            held.release()
            yield* eventually(Effect.sync(() => held.waiting === 0))
            // The reply (a version before the trip's) reached a and did not take it back to Closed.
            yield* Effect.sleep(Duration.millis(100))
            expect(yield* stateOf(ba)).toBe("Open")
            const stored = yield* a.snapshot(name)
            expect(Option.map(stored, (s) => s.state._tag)).toEqual(Option.some("Open"))
          })
        )
    )

    it.live("instances racing to trip: exactly one transition wins", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* acquireServer()
          const scope = yield* Effect.scope
          const stores = yield* Effect.all(Array.from({ length: 6 }, () => storeIn(scope, server)))
          const breakers = yield* Effect.forEach(stores, (s) => breakerOn(s, { name: "race", failureThreshold: 1 }))
          yield* Effect.forEach(breakers, (b) => Effect.exit(b.execute(fail)), { concurrency: "unbounded" })
          yield* eventually(
            Effect.map(stores[0]!.snapshot("race"), (s) => Option.isSome(s) && s.value.state._tag === "Open")
          )
          yield* Effect.sleep(Duration.millis(300))
          const snapshot = yield* stores[0]!.snapshot("race")
          expect(Option.isSome(snapshot)).toBe(true)
          if (Option.isSome(snapshot)) {
            // One trip from Closed (generation 0) to Open (generation 1): the losers adopted it.
            expect(snapshot.value.state._tag).toBe("Open")
            expect(snapshot.value.state.generation).toBe(1)
          }
          for (const b of breakers) expect(yield* stateOf(b)).toBe("Open")
        })
      )
    )

    it.live("Half-Open lets at most maxConcurrentTrials trials run across all instances", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* acquireServer()
          const scope = yield* Effect.scope
          const stores = yield* Effect.all(Array.from({ length: 4 }, () => storeIn(scope, server)))
          const options = {
            name: "trials",
            failureThreshold: 1,
            successThreshold: 2,
            maxConcurrentTrials: 2,
            resetTimeout: 200
          }
          const breakers = yield* Effect.forEach(stores, (s) => breakerOn(s, options))
          yield* Effect.exit(breakers[0]!.execute(fail))
          // Every instance saw the trip: Open, or already Half-Open if it took longer than resetTimeout to see it.
          yield* Effect.forEach(breakers, (b) => eventually(Effect.map(stateOf(b), (s) => s !== "Closed")))
          yield* Effect.sleep(Duration.millis(260))
          let running = 0
          let most = 0
          const trial = Effect.acquireUseRelease(
            Effect.sync(() => {
              running++
              most = Math.max(most, running)
            }),
            () => Effect.sleep(Duration.millis(100)),
            () => Effect.sync(() => running--)
          )
          const results = yield* Effect.forEach([...breakers, ...breakers], (b) => Effect.exit(b.execute(trial)), {
            concurrency: "unbounded"
          })
          const admitted = results.filter(Exit.isSuccess).length
          expect(most).toBeLessThanOrEqual(2)
          expect(admitted).toBe(2)
        })
      )
    )
  })

  describe("when Redis fails", () => {
    it.live("Redis down at start: the layer builds at once and calls never wait on it", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* acquireServer()
          yield* Effect.promise(() => server.kill())
          const scope = yield* Effect.scope
          const lag = yield* eventLoopLag
          const start = Date.now()
          const store = yield* storeIn(scope, server, { storeTimeout: 100 })
          expect(yield* lag.running(start, Date.now())).toBeLessThan(100)
          const breaker = yield* breakerOn(store, { name: "down-at-start", failureThreshold: 2 })
          const t0 = Date.now()
          expect(yield* breaker.execute(Effect.succeed(7))).toBe(7)
          yield* Effect.exit(breaker.execute(fail))
          yield* Effect.exit(breaker.execute(fail))
          expect(yield* stateOf(breaker)).toBe("Open")
          expect(yield* lag.running(t0, Date.now())).toBeLessThan(100)
          expect(store.isHealthy()).toBe(false)
        })
      )
    )

    it.live(
      "Redis frozen (SIGSTOP): no caller waits longer than the store timeout, and nothing counts as a failure",
      () =>
        Effect.scoped(
          Effect.gen(function* () {
            const server = yield* acquireServer()
            const scope = yield* Effect.scope
            const lag = yield* eventLoopLag
            const store = yield* storeIn(scope, server, { storeTimeout: 150 })
            const breaker = yield* breakerOn(store, { name: "frozen", failureThreshold: 1, resetTimeout: 50 })
            yield* breaker.execute(Effect.succeed(1))
            server.freeze()
            try {
              const t0 = Date.now()
              for (let i = 0; i < 20; i++) expect(yield* breaker.execute(Effect.succeed(i))).toBe(i)
              expect(yield* lag.running(t0, Date.now())).toBeLessThan(150)
              // A trial call needs Redis; it may wait, but never longer than the store timeout.
              yield* Effect.exit(breaker.execute(fail))
              yield* Effect.sleep(Duration.millis(60))
              const t1 = Date.now()
              const exit = yield* Effect.exit(breaker.execute(Effect.succeed("trial")))
              expect(yield* lag.running(t1, Date.now())).toBeLessThan(400)
              expect(Exit.isSuccess(exit)).toBe(true)
              const metrics = yield* breaker.metrics
              expect(metrics.failureCalls).toBe(1)
            } finally {
              server.thaw()
            }
          })
        )
    )

    it.live("Redis killed mid-traffic and restarted empty: calls go on, and the circuit is shared again", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* acquireServer()
          const scope = yield* Effect.scope
          const a = yield* storeIn(scope, server, { storeTimeout: 100 })
          const b = yield* storeIn(scope, server, { storeTimeout: 100 })
          const ba = yield* breakerOn(a, { name: "restart", failureThreshold: 2 })
          const bb = yield* breakerOn(b, { name: "restart", failureThreshold: 2 })
          yield* ba.execute(Effect.succeed(1))
          yield* Effect.promise(() => server.kill())
          for (let i = 0; i < 10; i++) expect(yield* ba.execute(Effect.succeed(i))).toBe(i)
          yield* Effect.promise(() => server.restart())
          yield* eventually(
            Effect.sync(() => a.isHealthy() && b.isHealthy()),
            5000
          )
          yield* Effect.exit(ba.execute(fail))
          yield* Effect.exit(ba.execute(fail))
          expect(yield* stateOf(ba)).toBe("Open")
          yield* eventually(
            Effect.map(stateOf(bb), (s) => s === "Open"),
            3000
          )
        })
      )
    )

    it.live("SCRIPT FLUSH is transparent, and a killed subscriber is caught up by the poll", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* acquireServer()
          const scope = yield* Effect.scope
          const a = yield* storeIn(scope, server)
          const b = yield* storeIn(scope, server)
          const ba = yield* breakerOn(a, { name: "flushed", failureThreshold: 1 })
          const bb = yield* breakerOn(b, { name: "flushed", failureThreshold: 1 })
          yield* ba.execute(Effect.succeed(1))
          yield* bb.execute(Effect.succeed(1))
          yield* Effect.promise(() => server.command("SCRIPT", "FLUSH"))
          yield* Effect.promise(() => server.command("CLIENT", "KILL", "TYPE", "pubsub"))
          yield* Effect.exit(ba.execute(fail))
          yield* eventually(Effect.map(a.snapshot("flushed"), (s) => Option.isSome(s) && s.value.state._tag === "Open"))
          yield* eventually(
            Effect.map(stateOf(bb), (s) => s === "Open"),
            2000
          )
        })
      )
    )

    it.live("releasing the layer finishes in bounded time while Redis is down", () =>
      Effect.gen(function* () {
        const server = yield* Effect.promise(() => startRedisServer())
        const scope = yield* Scope.make()
        const store = yield* storeIn(scope, server, { storeTimeout: 100 })
        const breaker = yield* breakerOn(store, { name: "release" })
        yield* Effect.exit(breaker.execute(fail))
        server.freeze()
        const t0 = Date.now()
        yield* Scope.close(scope, Exit.void)
        expect(Date.now() - t0).toBeLessThan(1000)
        server.thaw()
        yield* Effect.promise(() => server.stop())
      })
    )
  })

  describe("configuration and secrets", () => {
    it.live("a password in the URL works, and never shows in errors or logs", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const password = "s3cret-Pa55word"
          const server = yield* acquireServer({ password })
          const scope = yield* Effect.scope
          const logs: Array<string> = []
          const logger = Logger.make(({ message }) => logs.push(String(message)))
          const store = yield* storeIn(scope, server).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
          yield* eventually(Effect.map(Effect.either(store.get("x")), (r) => r._tag === "Right"))
          const wrong = yield* storeIn(scope, { ...server, url: server.url.replace(password, "wrong-Pa55word") }).pipe(
            Effect.provide(Logger.replace(Logger.defaultLogger, logger))
          )
          const error = yield* Effect.flip(wrong.get("x"))
          expect(error._tag).toBe("CircuitStoreError")
          expect(error.message).not.toContain("wrong-Pa55word")
          expect(logs.join("\n")).not.toContain(password)
          expect(logs.join("\n")).not.toContain("wrong-Pa55word")
          expect(RedisCircuitBreakerStore.redact(`redis://user:${password}@h:1`)).not.toContain(password)
        })
      )
    )

    it.live("an existing client is used and never closed", () =>
      Effect.gen(function* () {
        const server = yield* Effect.promise(() => startRedisServer())
        const client = new Redis(server.url)
        const scope = yield* Scope.make()
        const store = yield* RedisCircuitBreakerStore.makeFromClient(client, { flushInterval: 20 }).pipe(
          Scope.extend(scope)
        )
        const breaker = yield* breakerOn(store, { name: "owned-elsewhere", failureThreshold: 1 })
        yield* Effect.exit(breaker.execute(fail))
        yield* eventually(Effect.map(store.snapshot("owned-elsewhere"), Option.isSome))
        yield* Scope.close(scope, Exit.void)
        expect(yield* Effect.promise(() => client.ping())).toBe("PONG")
        yield* Effect.promise(() => client.quit())
        yield* Effect.promise(() => server.stop())
      })
    )

    it.live("circuit names cannot reach another circuit's keys, and the admin read lists them", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* acquireServer()
          const scope = yield* Effect.scope
          const store = yield* storeIn(scope, server, { prefix: "names:" })
          const names = ["a}:s", "a", "{a}", "%7D", "with space"]
          for (const name of names) {
            const breaker = yield* breakerOn(store, { name, failureThreshold: 1 })
            yield* Effect.exit(breaker.execute(fail))
          }
          yield* eventually(Effect.map(store.listCircuits, (list) => list.length === names.length))
          expect([...(yield* store.listCircuits)].sort()).toEqual([...names].sort())
          for (const name of names) {
            const snapshot = yield* store.snapshot(name)
            expect(Option.isSome(snapshot) && snapshot.value.state._tag).toBe("Open")
          }
        })
      )
    )
  })

  it.live("a breaker on a frozen Redis never hangs the fiber that runs it", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* acquireServer()
        const scope = yield* Effect.scope
        server.freeze()
        try {
          const store = yield* storeIn(scope, server, { storeTimeout: 100 })
          const breaker = yield* breakerOn(store, { name: "never-hangs", failureThreshold: 1, resetTimeout: 10 })
          const fiber = yield* Effect.fork(
            Effect.forEach(Array.from({ length: 5 }), () => Effect.exit(breaker.execute(fail)), { discard: true })
          )
          const t0 = Date.now()
          yield* Fiber.join(fiber)
          expect(Date.now() - t0).toBeLessThan(1000)
        } finally {
          server.thaw()
        }
      })
    )
  )
})
