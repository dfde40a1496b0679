/**
 * `whenUnavailable`: what a breaker over the Redis store does while Redis cannot be reached, for each policy, when
 * Redis is killed or frozen (SIGSTOP) mid-traffic, or down at start; that no call waits longer than the store
 * timeout meanwhile; and that once Redis is back the circuit follows the shared state again.
 */
import { CircuitBreaker, CircuitBreakerStore, CircuitOpenError } from "@circuit-breaker/core"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as HashSet from "effect/HashSet"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { RedisCircuitBreakerStore } from "../src/index.js"
import { type EventLoopLag, eventLoopLag, PATIENCE } from "./utils/busyMachine.js"
import { describeWithRedis, type RedisServer, startRedisServer } from "./utils/RedisServer.js"

type Policy = RedisCircuitBreakerStore.WhenUnavailable

/**
 * The library's default. What these tests show holds for any value; a shorter one makes a loaded machine time out
 * commands where a test needs Redis to answer (before the outage, and after it).
 */
const STORE_TIMEOUT = 250
const SYNC_INTERVAL = 200
/**
 * The longest a call may take while Redis is away: the store timeout, plus room for a busy event loop. On a loaded
 * machine, the time the process could not run (`eventLoopLag`) is not counted: a timer cannot fire before it is run.
 */
const LONGEST_CALL = STORE_TIMEOUT + 50
/**
 * For the store that only watches (`b`): it is never under test for timeouts, and its reads must not time out on a
 * loaded machine.
 */
const ROOMY_STORE_TIMEOUT = 2_000
/** Long enough that a circuit opened by a test stays open for the whole test. */
const RESET_TIMEOUT = 60_000

const acquireServer = Effect.acquireRelease(
  Effect.promise(() => startRedisServer()),
  (server) => Effect.promise(() => server.stop())
)

/**
 * Counts the times a store said Redis became unreachable (its log): on a loaded machine a command can outlast the
 * store timeout while Redis is up, and the policy then rightly decides.
 */
const makeOutageLog = () => {
  let seen = 0
  const logger = Logger.make(({ message }) => {
    const text = Array.isArray(message) ? message.join(" ") : String(message)
    if (text.startsWith("Redis unreachable")) seen++
  })
  return { seen: () => seen, logger }
}
type OutageLog = ReturnType<typeof makeOutageLog>

/** A store over `server`, in `scope`, with short intervals so that outages are noticed (and tests run) fast. */
const storeIn = (scope: Scope.Scope, server: RedisServer, whenUnavailable: Policy = "local", outages?: OutageLog) =>
  RedisCircuitBreakerStore.make({
    url: server.url,
    flushInterval: 20,
    syncInterval: SYNC_INTERVAL,
    storeTimeout: STORE_TIMEOUT,
    whenUnavailable
  }).pipe(
    (make) =>
      outages === undefined ? make : Effect.locallyWith(make, FiberRef.currentLoggers, HashSet.add(outages.logger)),
    Scope.extend(scope)
  )

/** The store that watches: what it reads is what Redis holds (see `ROOMY_STORE_TIMEOUT`). */
const watcherIn = (scope: Scope.Scope, server: RedisServer) =>
  RedisCircuitBreakerStore.make({
    url: server.url,
    flushInterval: 20,
    syncInterval: SYNC_INTERVAL,
    storeTimeout: ROOMY_STORE_TIMEOUT
  }).pipe(Scope.extend(scope))

const breakerOn = (store: CircuitBreakerStore.Store, name: string, resetTimeout = RESET_TIMEOUT) =>
  CircuitBreaker.make({ name, failureThreshold: 2, resetTimeout, maxRetries: 0, timeout: false }).pipe(
    Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store)
  )

const stateOf = (breaker: CircuitBreaker.CircuitBreaker) => Effect.map(breaker.state, (s) => s._tag)

/** Waits, in real time, until `check` holds (at most `within` ms), and returns how long that took. */
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, within = PATIENCE) =>
  Effect.gen(function* () {
    const start = Date.now()
    while (Date.now() - start < within) {
      if (yield* check) return Date.now() - start
      yield* Effect.sleep(Duration.millis(2))
    }
    return yield* Effect.die(new Error(`condition not met within ${within} ms`))
  })

/** The protected service: counts its runs, and answers or fails as told. */
const makeService = () => {
  let runs = 0
  return {
    runs: () => runs,
    call: (ok: boolean) =>
      Effect.suspend(() => {
        runs++
        return ok ? Effect.succeed("ok") : Effect.fail("service down")
      })
  }
}

/** Calls through the breaker, and keeps when each call began and ended. */
const makeCaller = (breaker: CircuitBreaker.CircuitBreaker) => {
  const spans: Array<readonly [number, number]> = []
  const call = <A, E>(effect: Effect.Effect<A, E>) =>
    Effect.gen(function* () {
      const t0 = Date.now()
      const result = yield* Effect.either(breaker.execute(effect))
      spans.push([t0, Date.now()])
      return result
    })
  /** The slowest call's time, less the time this process could not run meanwhile (see `eventLoopLag`). */
  const slowest = (lag: EventLoopLag) =>
    Effect.zipRight(
      lag.settle,
      Effect.sync(() => Math.max(0, ...spans.map(([from, to]) => to - from - lag.stalledBetween(from, to))))
    )
  return { call, slowest }
}

const expectOpenError = (result: Either.Either<unknown, unknown>): CircuitOpenError => {
  expect(Either.isLeft(result) && result.left instanceof CircuitOpenError, `a CircuitOpenError, not ${result}`).toBe(
    true
  )
  return (result as Either.Left<CircuitOpenError, unknown>).left
}

/**
 * What the policy does while Redis is known to be away, shown through `caller`: failures of the service under
 * "local" (counted, and tripping the local view), under "allow" (all admitted, none counted), and calls under
 * "reject" (all rejected at once, to retry soon, the service never called).
 */
const showPolicy = (
  policy: Policy,
  breaker: CircuitBreaker.CircuitBreaker,
  caller: ReturnType<typeof makeCaller>,
  service: ReturnType<typeof makeService>
) =>
  Effect.gen(function* () {
    const runs = service.runs()
    switch (policy) {
      case "local": {
        // The local view decides: two failures trip it, then calls are rejected until the reset timeout.
        expect(yield* caller.call(service.call(false))).toEqual(Either.left("service down"))
        expect(yield* caller.call(service.call(false))).toEqual(Either.left("service down"))
        expect(yield* stateOf(breaker)).toBe("Open")
        const error = expectOpenError(yield* caller.call(service.call(true)))
        expect(Duration.toMillis(error.retryAfter)).toBeGreaterThan(RESET_TIMEOUT - 5000)
        expect(service.runs()).toBe(runs + 2)
        break
      }
      case "allow": {
        // Fail open: every call runs, and no failure counts, so nothing trips.
        for (let i = 0; i < 6; i++) expect(yield* caller.call(service.call(false))).toEqual(Either.left("service down"))
        expect(yield* caller.call(service.call(true))).toEqual(Either.right("ok"))
        expect(yield* stateOf(breaker)).toBe("Closed")
        expect(service.runs()).toBe(runs + 7)
        break
      }
      case "reject": {
        // Fail closed: every call is rejected as by an Open circuit, to retry after a sync interval.
        for (let i = 0; i < 6; i++) {
          const error = expectOpenError(yield* caller.call(service.call(true)))
          expect(error.circuit).toBe(breaker.name)
          // About a sync interval (counted from when the call began, a moment before the store was asked).
          expect(Duration.toMillis(error.retryAfter)).toBeGreaterThan(SYNC_INTERVAL - 50)
          expect(Duration.toMillis(error.retryAfter)).toBeLessThan(SYNC_INTERVAL + 50)
        }
        expect(yield* stateOf(breaker)).toBe("Open")
        expect(service.runs()).toBe(runs)
        break
      }
    }
  })

interface UnderTest {
  readonly store: RedisCircuitBreakerStore.RedisStore
  readonly breaker: CircuitBreaker.CircuitBreaker
  readonly outages: OutageLog
}

/**
 * Runs `steps` with Redis answering `a`'s store throughout: a run during which the store lost Redis (a command
 * outlasted the store timeout on a loaded machine, and the policy decided) shows nothing, so it is made again, after
 * `restore`, within PATIENCE. What the caller asserts is about the run returned.
 */
const whileRedisAnswers = <A, E, R>(a: UnderTest, steps: Effect.Effect<A, E, R>, restore: Effect.Effect<void>) =>
  Effect.gen(function* () {
    const start = Date.now()
    for (;;) {
      yield* eventually(Effect.sync(() => a.store.isHealthy()))
      const before = a.outages.seen()
      const result = yield* steps
      // The store logs an outage from a fiber of its own: let it run.
      yield* Effect.sleep(Duration.millis(1))
      if (a.outages.seen() === before && a.store.isHealthy()) return result
      if (Date.now() - start > PATIENCE) return yield* Effect.die(new Error(`Redis lost within ${PATIENCE} ms`))
      yield* restore
    }
  })

/**
 * Once Redis is back, `a` (the breaker under test) follows the shared state again, which `b` (another instance)
 * changes: what "local" decided during the outage has been written; under "allow" and "reject" nothing was, and
 * failures count again.
 */
const showRecovery = (
  policy: Policy,
  a: UnderTest,
  b: { readonly store: RedisCircuitBreakerStore.RedisStore; readonly breaker: CircuitBreaker.CircuitBreaker },
  service: ReturnType<typeof makeService>
) =>
  Effect.gen(function* () {
    const name = a.breaker.name
    yield* eventually(Effect.sync(() => a.store.isHealthy() && b.store.isHealthy()))
    const caller = makeCaller(a.breaker)
    if (policy === "local") {
      // The local trip is reconciled with what Redis holds: the other instance sees it.
      yield* eventually(Effect.map(stateOf(b.breaker), (s) => s === "Open"))
      yield* b.breaker.reset
      yield* eventually(Effect.map(stateOf(a.breaker), (s) => s === "Closed"))
      expect(yield* caller.call(service.call(true))).toEqual(Either.right("ok"))
      return
    }
    // Nothing of the outage was written: Redis holds a Closed circuit (or none, after a restart).
    const stored = yield* b.store.snapshot(name)
    expect(Option.isNone(stored) || stored.value.state._tag === "Closed").toBe(true)
    const closed = eventually(Effect.map(stateOf(a.breaker), (s) => s === "Closed"))
    yield* closed
    // Failures count again, and from zero: the first does not trip, the second does, for every instance. (A run
    // made again starts from a reset circuit.)
    const run = yield* whileRedisAnswers(
      a,
      Effect.gen(function* () {
        const first = yield* caller.call(service.call(true))
        const failed = yield* caller.call(service.call(false))
        const afterOne = yield* stateOf(a.breaker)
        const failedAgain = yield* caller.call(service.call(false))
        return { first, failed, afterOne, failedAgain, afterTwo: yield* stateOf(a.breaker) }
      }),
      Effect.asVoid(Effect.zipRight(b.breaker.reset, closed))
    )
    expect(run.first).toEqual(Either.right("ok"))
    expect(run.failed).toEqual(Either.left("service down"))
    expect(run.afterOne).toBe("Closed")
    expect(run.failedAgain).toEqual(Either.left("service down"))
    expect(run.afterTwo).toBe("Open")
    yield* eventually(Effect.map(stateOf(b.breaker), (s) => s === "Open"))
    // And a change made elsewhere reaches it.
    yield* b.breaker.reset
    yield* closed
    expect(yield* whileRedisAnswers(a, caller.call(service.call(true)), Effect.asVoid(closed))).toEqual(
      Either.right("ok")
    )
  })

const policies: ReadonlyArray<Policy> = ["local", "allow", "reject"]

describeWithRedis("whenUnavailable", () => {
  for (const policy of policies) {
    describe(`"${policy}"`, () => {
      for (const outage of ["killed", "frozen"] as const) {
        it.live(`Redis ${outage} mid-traffic: no call waits, the policy decides, and the circuit is shared again`, () =>
          Effect.scoped(
            Effect.gen(function* () {
              const server = yield* acquireServer
              const scope = yield* Effect.scope
              const lag = yield* eventLoopLag
              const name = `degraded-${policy}-${outage}`
              const outages = makeOutageLog()
              const storeA = yield* storeIn(scope, server, policy, outages)
              const storeB = yield* watcherIn(scope, server)
              const a = { store: storeA, breaker: yield* breakerOn(storeA, name), outages }
              const b = { store: storeB, breaker: yield* breakerOn(storeB, name) }
              const service = makeService()
              const caller = makeCaller(a.breaker)
              expect(yield* caller.call(service.call(true))).toEqual(Either.right("ok"))
              yield* Effect.forEach([a.breaker, b.breaker], stateOf)
              yield* eventually(Effect.sync(() => storeA.isHealthy() && storeB.isHealthy()))

              if (outage === "killed") yield* Effect.promise(() => server.kill())
              else server.freeze()
              try {
                // Traffic goes on while the store notices (within 2 s of the time the process could run): calls
                // are decided at once, on the local view.
                const t0 = Date.now()
                while (storeA.isHealthy() && Date.now() - t0 < PATIENCE) {
                  expect(yield* caller.call(service.call(true))).toEqual(Either.right("ok"))
                  yield* Effect.sleep(Duration.millis(5))
                }
                expect(yield* lag.running(t0, Date.now())).toBeLessThan(2000)
                expect(storeA.isHealthy()).toBe(false)
                yield* showPolicy(policy, a.breaker, caller, service)
                expect(yield* caller.slowest(lag)).toBeLessThan(LONGEST_CALL)
                // The store said so (the log \`whileRedisAnswers\` relies on).
                expect(outages.seen()).toBeGreaterThan(0)
              } finally {
                if (outage === "frozen") server.thaw()
              }
              if (outage === "killed") yield* Effect.promise(() => server.restart())
              yield* showRecovery(policy, a, b, service)
            })
          )
        )
      }

      it.live(
        "a Half-Open trial asked for as Redis freezes waits at most the store timeout, then the policy decides",
        () =>
          Effect.scoped(
            Effect.gen(function* () {
              const server = yield* acquireServer
              const scope = yield* Effect.scope
              const lag = yield* eventLoopLag
              const name = `degraded-${policy}-trial`
              const storeA = yield* storeIn(scope, server, policy)
              const storeB = yield* watcherIn(scope, server)
              const a = yield* breakerOn(storeA, name, 100)
              const b = yield* breakerOn(storeB, name, 100)
              yield* stateOf(a)
              yield* b.trip
              // A saw the trip: Open, or already Half-Open if it took longer than resetTimeout to see it.
              yield* eventually(Effect.map(stateOf(a), (s) => s !== "Closed"))
              yield* Effect.sleep(Duration.millis(120))
              // Redis answers A (a loaded machine may have made one command outlast the store timeout just now).
              yield* eventually(Effect.sync(() => storeA.isHealthy()))
              // The trial's admission is written to Redis at once, inside an uninterruptible region: the
              // frozen server never answers it.
              server.freeze()
              try {
                const service = makeService()
                const caller = makeCaller(a)
                const result = yield* caller.call(service.call(true))
                expect(yield* caller.slowest(lag)).toBeLessThan(LONGEST_CALL)
                if (policy === "reject") {
                  expectOpenError(result)
                  expect(service.runs()).toBe(0)
                } else {
                  // "local": a trial admitted on the local view; "allow": an ordinary call.
                  expect(result).toEqual(Either.right("ok"))
                }
                expect(storeA.isHealthy()).toBe(false)
              } finally {
                server.thaw()
              }
            })
          )
      )

      it.live("Redis down at start: the policy decides at once, and the circuit is shared once Redis is up", () =>
        Effect.scoped(
          Effect.gen(function* () {
            const server = yield* acquireServer
            yield* Effect.promise(() => server.kill())
            const scope = yield* Effect.scope
            const lag = yield* eventLoopLag
            const name = `degraded-${policy}-at-start`
            const outages = makeOutageLog()
            const storeA = yield* storeIn(scope, server, policy, outages)
            const a = { store: storeA, breaker: yield* breakerOn(storeA, name), outages }
            // The first command fails (connection refused): from then on the store knows Redis is away.
            const t0 = Date.now()
            expect(Either.isLeft(yield* Effect.either(storeA.get(name)))).toBe(true)
            expect(yield* lag.running(t0, Date.now())).toBeLessThan(LONGEST_CALL)
            expect(storeA.isHealthy()).toBe(false)
            const service = makeService()
            const caller = makeCaller(a.breaker)
            yield* showPolicy(policy, a.breaker, caller, service)
            expect(yield* caller.slowest(lag)).toBeLessThan(LONGEST_CALL)

            yield* Effect.promise(() => server.restart())
            const storeB = yield* watcherIn(scope, server)
            const b = { store: storeB, breaker: yield* breakerOn(storeB, name) }
            yield* stateOf(b.breaker)
            yield* showRecovery(policy, a, b, service)
          })
        )
      )
    })
  }

  it.live("an unknown policy is a defect that names the option", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        Effect.scoped(RedisCircuitBreakerStore.make({ whenUnavailable: "open" as Policy }))
      )
      expect(Exit.isFailure(exit)).toBe(true)
      const defect = Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : Option.none()
      expect(Option.isSome(defect) && Cause.isIllegalArgumentException(defect.value)).toBe(true)
      expect(Option.isSome(defect) && String((defect.value as Error).message)).toContain("whenUnavailable")
    })
  )
})
