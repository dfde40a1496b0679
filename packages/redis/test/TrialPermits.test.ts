/**
 * Half-Open trial permits expire (`trialPermitTtl`): an instance that takes a trial permit and dies before reporting
 * back cannot wedge a circuit it shares through Redis. Real servers and real time, with tolerances.
 */
import { CircuitBreaker, type CircuitBreakerState, CircuitBreakerStore, CircuitOpenError } from "@circuit-breaker/core"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Either, Exit, Fiber, Option, Scope } from "effect"
import { Redis } from "ioredis"
import { RedisCircuitBreakerStore } from "../src/index.js"
import * as codec from "../src/internal/codec.js"
import { PATIENCE } from "./utils/busyMachine.js"
import { describeWithRedis, type RedisServer, startRedisServer } from "./utils/RedisServer.js"

const TTL = 300
/** Clock offsets between the two stores and Redis, and scheduling: how far a measured time may stray. */
const TOLERANCE = 60

const acquireServer = Effect.acquireRelease(
  Effect.promise(() => startRedisServer()),
  (server) => Effect.promise(() => server.stop())
)

/** Not what these tests are about: long enough that a loaded machine never times a command out. */
const ROOMY_STORE_TIMEOUT = 2_000

/** A store over `server`, in `scope`, with short intervals so that tests run fast. */
const storeIn = (scope: Scope.Scope, server: RedisServer) =>
  RedisCircuitBreakerStore.make({
    url: server.url,
    flushInterval: 20,
    syncInterval: 200,
    storeTimeout: ROOMY_STORE_TIMEOUT
  }).pipe(Scope.extend(scope))

/** One trial closes the circuit; no timeout, so that only the permit's TTL can free a slot. */
const breakerOn = (store: CircuitBreakerStore.Store, name: string) =>
  CircuitBreaker.make({
    name,
    failureThreshold: 1,
    successThreshold: 1,
    resetTimeout: 200,
    trialPermitTtl: TTL,
    maxRetries: 0,
    timeout: false
  }).pipe(Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store))

const sleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))

/** Waits, in real time, until `check` holds (at most `within` ms); fails the test otherwise. */
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, within = PATIENCE) =>
  Effect.gen(function* () {
    const start = Date.now()
    while (Date.now() - start < within) {
      if (yield* check) return
      yield* sleep(2)
    }
    return yield* Effect.die(new Error(`condition not met within ${within} ms`))
  })

/** What Redis holds for the circuit, which must be Half-Open. */
const halfOpenIn = (store: RedisCircuitBreakerStore.RedisStore, name: string) =>
  Effect.flatMap(store.snapshot(name), (snapshot) => {
    const state: CircuitBreakerState.CircuitState<unknown> | undefined = Option.getOrUndefined(snapshot)?.state
    return state?._tag === "HalfOpen"
      ? Effect.succeed(state)
      : Effect.die(new Error(`expected HalfOpen in Redis, got ${state?._tag}`))
  })

/**
 * Opens the circuit through `breaker`, waits for it to half-open (for `others` too), then starts a trial through
 * `breaker` that runs until `release` completes. Returns the trial's fiber and when it was admitted.
 */
const takeTrial = (
  breaker: CircuitBreaker.CircuitBreaker,
  others: ReadonlyArray<CircuitBreaker.CircuitBreaker>,
  release: Deferred.Deferred<string, string>
) =>
  Effect.gen(function* () {
    yield* Effect.exit(breaker.execute(Effect.fail("service down")))
    // Every instance saw the trip: Open, or already Half-Open if it took longer than resetTimeout to see it.
    for (const b of [breaker, ...others]) yield* eventually(Effect.map(b.state, (s) => s._tag !== "Closed"))
    yield* sleep(250)
    const started = yield* Deferred.make<void>()
    const before = Date.now()
    const fiber = yield* Effect.fork(
      breaker.execute(Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release)))
    )
    yield* Deferred.await(started)
    return { fiber, before, after: Date.now() }
  })

/** A Half-Open state as the version before trial permit expiry stored it: no `permitsExpireAt`. */
const legacyHalfOpen = (since: number) =>
  JSON.stringify({ _tag: "HalfOpen", generation: 4, since, trialsInFlight: 1, successes: 0 })

describe("the stored Half-Open state", () => {
  it("round-trips permitsExpireAt, and shifts it with the other times", () => {
    const state = {
      _tag: "HalfOpen",
      generation: 3,
      since: 1000,
      trialsInFlight: 2,
      successes: 1,
      permitsExpireAt: 1300
    }
    expect(codec.decode(codec.encode(state as CircuitBreakerState.HalfOpen))).toStrictEqual(Either.right(state))
    expect(codec.shiftTimes(state as CircuitBreakerState.HalfOpen, 50)).toStrictEqual({
      ...state,
      since: 1050,
      permitsExpireAt: 1350
    })
  })

  it("stored by the older version, without permitsExpireAt, still decodes: its permits expire at since", () => {
    expect(codec.decode(legacyHalfOpen(1000))).toStrictEqual(
      Either.right({
        _tag: "HalfOpen",
        generation: 4,
        since: 1000,
        trialsInFlight: 1,
        successes: 0,
        permitsExpireAt: 1000
      })
    )
    expect(
      Either.isLeft(codec.decode(JSON.stringify({ ...JSON.parse(legacyHalfOpen(0)), permitsExpireAt: "x" })))
    ).toBe(true)
  })
})

describeWithRedis("Half-Open trial permits across instances", () => {
  it.live("a Half-Open circuit stored by the older version is read, and its stale trial does not hold the slot", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* acquireServer
        const scope = yield* Effect.scope
        const client = new Redis(server.url)
        yield* Effect.addFinalizer(() => Effect.promise(() => client.quit()))
        const since = Number((yield* Effect.promise(() => client.time()))[0]) * 1000 - 1000
        yield* Effect.promise(() => client.hset("cb:v1:{legacy}:s", "v", 1, "st", legacyHalfOpen(since)))
        const store = yield* storeIn(scope, server)
        const held = yield* halfOpenIn(store, "legacy")
        expect(held).toMatchObject({ generation: 4, trialsInFlight: 1 })
        expect(held.permitsExpireAt).toBe(held.since)
        const breaker = yield* breakerOn(store, "legacy")
        // The store reads the circuit when it is first used; until then the breaker sees a fresh one.
        yield* eventually(Effect.map(breaker.state, (s) => s._tag === "HalfOpen"))
        expect(yield* breaker.state).toMatchObject({ generation: 5, trialsInFlight: 0 })
        expect(yield* breaker.execute(Effect.succeed("admitted"))).toBe("admitted")
        expect(yield* breaker.state).toMatchObject({ _tag: "Closed", generation: 6 })
      })
    )
  )

  it.live("a permit holder that never reports back: another instance is admitted a trial after the TTL", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* acquireServer
        const scope = yield* Effect.scope
        const scopeA = yield* Scope.make()
        const storeA = yield* storeIn(scopeA, server)
        const storeB = yield* storeIn(scope, server)
        const name = "dead-holder"
        const a = yield* breakerOn(storeA, name)
        const b = yield* breakerOn(storeB, name)
        yield* b.state // B learns the circuit before A trips it

        // A takes the only trial permit, then dies: its connections close, and the trial never reports back.
        const never = yield* Deferred.make<string, string>()
        const trial = yield* takeTrial(a, [b], never)
        const held = yield* halfOpenIn(storeB, name)
        expect(held.trialsInFlight).toBe(1)
        expect(held.permitsExpireAt).toBeGreaterThanOrEqual(trial.before + TTL - TOLERANCE)
        expect(held.permitsExpireAt).toBeLessThanOrEqual(trial.after + TTL + TOLERANCE)
        yield* Scope.close(scopeA, Exit.void)

        // While the permit holds, B is rejected, told to come back no later than when it expires.
        const rejected = yield* Effect.flip(b.execute(Effect.succeed("too early")))
        expect(rejected).toBeInstanceOf(CircuitOpenError)
        if (rejected instanceof CircuitOpenError) {
          expect(Duration.toMillis(rejected.retryAfter)).toBeLessThanOrEqual(TTL + TOLERANCE)
        }
        expect((yield* halfOpenIn(storeB, name)).trialsInFlight).toBe(1)

        // Once it has expired, B is admitted a trial, and its success closes the circuit.
        yield* sleep(Math.max(0, held.permitsExpireAt - Date.now()) + TOLERANCE)
        expect(yield* b.execute(Effect.succeed("admitted"))).toBe("admitted")
        expect(Date.now() - trial.before).toBeGreaterThanOrEqual(TTL - TOLERANCE)
        expect((yield* b.state)._tag).toBe("Closed")
        yield* eventually(
          Effect.map(storeB.snapshot(name), (s) => Option.isSome(s) && s.value.state._tag === "Closed"),
          1000
        )

        yield* Fiber.interrupt(trial.fiber)
      })
    )
  )

  it.live("a late report of an expired permit changes nothing: the live trial decides", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* acquireServer
        const scope = yield* Effect.scope
        const [storeA, storeB] = yield* Effect.all([storeIn(scope, server), storeIn(scope, server)])
        const name = "late-report"
        const a = yield* breakerOn(storeA, name)
        const b = yield* breakerOn(storeB, name)
        yield* b.state

        // A's trial outlives its permit.
        const slow = yield* Deferred.make<string, string>()
        const trial = yield* takeTrial(a, [b], slow)
        const expired = yield* halfOpenIn(storeB, name)
        yield* sleep(Math.max(0, expired.permitsExpireAt - Date.now()) + TOLERANCE)

        // B takes the freed slot, in a new generation.
        const live = yield* Deferred.make<string, string>()
        const started = yield* Deferred.make<void>()
        const liveFiber = yield* Effect.fork(
          b.execute(Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(live)))
        )
        yield* Deferred.await(started)
        const taken = yield* halfOpenIn(storeB, name)
        expect(taken).toMatchObject({ generation: expired.generation + 1, trialsInFlight: 1 })

        // A's trial fails at last: the failure is A's caller's, but the circuit does not reopen.
        yield* Deferred.fail(slow, "late failure")
        expect(yield* Effect.flip(Fiber.join(trial.fiber))).toBe("late failure")
        yield* sleep(60) // A's flushes (every 20 ms) have gone out
        expect(yield* halfOpenIn(storeB, name)).toMatchObject({ generation: taken.generation, trialsInFlight: 1 })

        yield* Deferred.succeed(live, "ok")
        expect(yield* Fiber.join(liveFiber)).toBe("ok")
        expect((yield* b.state)._tag).toBe("Closed")
        yield* eventually(Effect.map(a.state, (s) => s._tag === "Closed"))
      })
    )
  )
})
