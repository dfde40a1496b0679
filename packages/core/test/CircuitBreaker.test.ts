import { createHook } from "node:async_hooks"
import { assert, describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Chunk,
  Clock,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberRef,
  HashMap,
  Logger,
  Metric,
  Option,
  Ref,
  Schedule,
  Stream,
  TestClock
} from "effect"
import { onTestFinished } from "vitest"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import { CircuitBreakerConfigError, CircuitOpenError, CircuitTimeoutError } from "../src/CircuitBreakerError.js"
import * as CircuitBreakerMetrics from "../src/CircuitBreakerMetrics.js"
import * as CircuitBreakerStore from "../src/CircuitBreakerStore.js"

// ---------------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------------

/** Every circuit name of this file starts with it: Effect metrics live in one global registry. */
const PREFIX = "cb-executor-"

/** A breaker with deterministic retry delays (no jitter); the name is prefixed to keep it unique. */
const build = (name: string, options: CircuitBreaker.CircuitBreaker.Options = {}) =>
  CircuitBreaker.make({ jitter: false, ...options, name: `${PREFIX}${name}` })

/** Lets every forked fiber run until it blocks, without moving the clock. */
const settle = TestClock.adjust(0)

/** The exit of a fiber that must already be done (or finish without the clock moving). */
const doneNow = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.gen(function* () {
    yield* settle
    const exit = yield* Fiber.poll(fiber)
    if (Option.isNone(exit)) return assert.fail("the fiber is still running although the clock did not move")
    return exit.value
  })

/** Asserts that a fiber is still running. */
const expectRunning = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.gen(function* () {
    yield* settle
    expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
  })

/**
 * An effect that records the TestClock time of each of its runs, then does `outcome(n)` for its n-th run (from 1).
 */
const tracked = <A, E>(outcome: (run: number) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const runs = yield* Ref.make<Array<number>>([])
    const effect = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const all = yield* Ref.updateAndGet(runs, (times) => [...times, now])
      return yield* outcome(all.length)
    })
    return { effect, runs: Ref.get(runs), count: Effect.map(Ref.get(runs), (times) => times.length) }
  })

/** An effect held open until `release` is completed; `started` completes when it runs. */
const hold = <A, E>() =>
  Effect.gen(function* () {
    const started = yield* Deferred.make<void>()
    const release = yield* Deferred.make<A, E>()
    const interrupted = yield* Ref.make(false)
    const effect = Deferred.succeed(started, undefined).pipe(
      Effect.zipRight(Deferred.await(release)),
      Effect.onInterrupt(() => Ref.set(interrupted, true))
    )
    return { effect, started, release, interrupted: Ref.get(interrupted) }
  })

/** Runs `n` failing calls, one after the other. */
const failTimes = (breaker: CircuitBreaker.CircuitBreaker, n: number, error = "boom") =>
  Effect.forEach(Array.from({ length: n }), () => Effect.exit(breaker.execute(Effect.fail(error))), {
    discard: true
  })

const stateTag = (breaker: CircuitBreaker.CircuitBreaker) => Effect.map(breaker.state, (state) => state._tag)

/**
 * Moves the clock through the expected retry delays and checks that each attempt happens exactly at its time: not one
 * millisecond before.
 */
const expectAttemptsAfter = (count: Effect.Effect<number>, delays: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    for (const [i, delay] of delays.entries()) {
      yield* TestClock.adjust(delay - 1)
      expect(yield* count).toBe(i + 1)
      yield* TestClock.adjust(1)
      expect(yield* count).toBe(i + 2)
    }
  })

/** The gaps between consecutive times. */
const gaps = (times: ReadonlyArray<number>): Array<number> => times.slice(1).map((t, i) => t - times[i]!)

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

// ---------------------------------------------------------------------------------------------------------------------
// Closed → Open
// ---------------------------------------------------------------------------------------------------------------------

describe("a breaker made with Effect.runPromise", () => {
  it("is not a thenable: the promise resolves with the breaker, which runs calls on the live clock", async () => {
    const breaker = await Effect.runPromise(CircuitBreaker.make({ name: `${PREFIX}not-thenable` }))
    expect(CircuitBreaker.isCircuitBreaker(breaker)).toBe(true)
    expect("then" in breaker).toBe(false)
    expect(await Effect.runPromise(breaker.execute(Effect.promise(async () => 42)))).toBe(42)
  })

  it("times an attempt out on the live clock, aborts it, and holds no timer that keeps the process alive", async () => {
    const breaker = await Effect.runPromise(
      CircuitBreaker.make({ name: `${PREFIX}live-timeout`, timeout: "40 millis", maxRetries: 0 })
    )
    // The timers created from here on that are still armed and keep the process alive (others, such as the test
    // runner's, come and go meanwhile).
    const created: Array<NodeJS.Timeout> = []
    const hook = createHook({
      init: (_id, type, _trigger, resource) => {
        if (type === "Timeout") created.push(resource as NodeJS.Timeout)
      }
    }).enable()
    onTestFinished(() => void hook.disable())
    const refTimers = () =>
      created.filter((timer) => timer.hasRef() && !(timer as unknown as { _destroyed: boolean })._destroyed).length
    const before = refTimers()
    let aborted = false
    const hanging = Effect.async<never>((_resume, signal) => {
      signal.addEventListener("abort", () => {
        aborted = true
      })
    })
    const started = performance.now()
    const exit = await Effect.runPromise(Effect.exit(breaker.execute(hanging)))
    const elapsed = performance.now() - started
    assert(Exit.isFailure(exit))
    expect(Cause.failureOption(exit.cause).pipe(Option.getOrUndefined)).toBeInstanceOf(CircuitTimeoutError)
    expect(aborted).toBe(true)
    // Real time, so a tolerance: not before the deadline, and well before anything else would end it.
    expect(elapsed).toBeGreaterThanOrEqual(38)
    expect(elapsed).toBeLessThan(2000)
    // The timer fired, and is gone.
    expect(refTimers()).toBe(before)
    // A call that ends before its deadline leaves the list's timer armed for that deadline,
    // but unref'd: it does not keep the process alive.
    expect(await Effect.runPromise(breaker.execute(Effect.promise(async () => 7)))).toBe(7)
    expect(refTimers()).toBe(before)
  })
})

describe("Closed → Open", () => {
  it.effect("opens after failureThreshold consecutive failures", () =>
    Effect.gen(function* () {
      const breaker = yield* build("opens-after-threshold", { failureThreshold: 3, maxRetries: 0 })
      for (let i = 1; i <= 2; i++) {
        expect(yield* Effect.exit(breaker.execute(Effect.fail(`boom-${i}`)))).toStrictEqual(Exit.fail(`boom-${i}`))
        expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: i })
      }
      expect(yield* Effect.exit(breaker.execute(Effect.fail("boom-3")))).toStrictEqual(Exit.fail("boom-3"))
      expect(yield* breaker.state).toMatchObject({ _tag: "Open", openedAt: 0, retryAt: 30_000 })
    })
  )

  it.effect("a success in between starts the count again", () =>
    Effect.gen(function* () {
      const breaker = yield* build("success-resets", { failureThreshold: 3, maxRetries: 0 })
      yield* failTimes(breaker, 2)
      expect(yield* breaker.execute(Effect.succeed("ok"))).toBe("ok")
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 0 })
      yield* failTimes(breaker, 2)
      expect(yield* stateTag(breaker)).toBe("Closed")
      yield* failTimes(breaker, 1)
      expect(yield* stateTag(breaker)).toBe("Open")
    })
  )

  it.effect("an open circuit rejects with CircuitOpenError and does not run the effect", () =>
    Effect.gen(function* () {
      const breaker = yield* build("rejects-when-open", { failureThreshold: 2, maxRetries: 0, resetTimeout: 1000 })
      const probe = yield* tracked(() => Effect.fail("down"))
      yield* Effect.exit(breaker.execute(probe.effect))
      yield* Effect.exit(breaker.execute(probe.effect))
      expect(yield* probe.count).toBe(2)
      expect(yield* stateTag(breaker)).toBe("Open")

      yield* TestClock.adjust(300)
      const error = yield* Effect.flip(breaker.execute(probe.effect))
      assert(error instanceof CircuitOpenError)
      expect(error._tag).toBe("CircuitOpenError")
      expect(error.circuit).toBe(`${PREFIX}rejects-when-open`)
      expect(Duration.isDuration(error.retryAfter)).toBe(true)
      expect(Duration.toMillis(error.retryAfter)).toBe(700)

      yield* TestClock.adjust(650)
      const later = yield* Effect.flip(breaker.execute(probe.effect))
      assert(later instanceof CircuitOpenError)
      expect(Duration.toMillis(later.retryAfter)).toBe(50)
      expect(yield* probe.count).toBe(2)
    })
  )
})

// ---------------------------------------------------------------------------------------------------------------------
// Open → Half-Open → Closed / Open
// ---------------------------------------------------------------------------------------------------------------------

describe("Half-Open", () => {
  it.effect("state reports HalfOpen once resetTimeout has passed, without any call", () =>
    Effect.gen(function* () {
      const breaker = yield* build("half-open-by-time", { failureThreshold: 1, maxRetries: 0, resetTimeout: 1000 })
      const probe = yield* tracked(() => Effect.fail("down"))
      yield* Effect.exit(breaker.execute(probe.effect))
      yield* TestClock.adjust(999)
      expect(yield* stateTag(breaker)).toBe("Open")
      yield* TestClock.adjust(1)
      expect(yield* breaker.state).toMatchObject({ _tag: "HalfOpen", since: 1000, trialsInFlight: 0, successes: 0 })
      expect(yield* probe.count).toBe(1)
    })
  )

  it.effect("at most maxConcurrentTrials trials run at once; other callers are rejected at once", () =>
    Effect.gen(function* () {
      const breaker = yield* build("trial-slots", {
        failureThreshold: 1,
        maxRetries: 0,
        resetTimeout: 1000,
        successThreshold: 2,
        maxConcurrentTrials: 2
      })
      yield* failTimes(breaker, 1)
      yield* TestClock.adjust(1000)

      const first = yield* hold<string, string>()
      const second = yield* hold<string, string>()
      const firstFiber = yield* Effect.fork(breaker.execute(first.effect))
      const secondFiber = yield* Effect.fork(breaker.execute(second.effect))
      yield* Deferred.await(first.started)
      yield* Deferred.await(second.started)
      expect(yield* breaker.state).toMatchObject({ _tag: "HalfOpen", trialsInFlight: 2, successes: 0 })

      const extra = yield* tracked(() => Effect.succeed("extra"))
      const rejected = yield* Effect.flip(breaker.execute(extra.effect))
      assert(rejected instanceof CircuitOpenError)
      expect(rejected.circuit).toBe(`${PREFIX}trial-slots`)
      expect(Duration.isDuration(rejected.retryAfter)).toBe(true)
      expect(Duration.toMillis(rejected.retryAfter)).toBeGreaterThan(0)
      expect(yield* extra.count).toBe(0)

      // One trial success is not enough to close, and the finished trial's slot is not reused in this round.
      yield* Deferred.succeed(first.release, "one")
      expect(yield* Fiber.join(firstFiber)).toBe("one")
      expect(yield* breaker.state).toMatchObject({ _tag: "HalfOpen", trialsInFlight: 1, successes: 1 })
      expect(yield* Effect.flip(breaker.execute(extra.effect))).toBeInstanceOf(CircuitOpenError)
      expect(yield* extra.count).toBe(0)

      yield* Deferred.succeed(second.release, "two")
      expect(yield* Fiber.join(secondFiber)).toBe("two")
      expect(yield* stateTag(breaker)).toBe("Closed")
      expect(yield* breaker.execute(extra.effect)).toBe("extra")
      expect(yield* extra.count).toBe(1)
    })
  )

  it.effect("successThreshold consecutive trial successes close the circuit", () =>
    Effect.gen(function* () {
      const breaker = yield* build("trials-close", {
        failureThreshold: 1,
        maxRetries: 0,
        resetTimeout: 1000,
        successThreshold: 3
      })
      yield* failTimes(breaker, 1)
      yield* TestClock.adjust(1000)
      for (let i = 1; i <= 2; i++) {
        expect(yield* breaker.execute(Effect.succeed(i))).toBe(i)
        expect(yield* breaker.state).toMatchObject({ _tag: "HalfOpen", trialsInFlight: 0, successes: i })
      }
      expect(yield* breaker.execute(Effect.succeed(3))).toBe(3)
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 0, since: 1000 })
    })
  )

  it.effect("a trial failure reopens the circuit for another resetTimeout", () =>
    Effect.gen(function* () {
      const breaker = yield* build("trial-reopens", {
        failureThreshold: 1,
        maxRetries: 3,
        retryDelay: 10,
        resetTimeout: 1000,
        successThreshold: 2
      })
      yield* failTimes(breaker, 1)
      yield* TestClock.adjust(1250)
      expect(yield* breaker.execute(Effect.succeed("ok"))).toBe("ok")
      const trial = yield* tracked(() => Effect.fail("still down"))
      // The trial fails: the circuit reopens at once, and the call is not retried.
      const fiber = yield* Effect.fork(breaker.execute(trial.effect))
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.fail("still down"))
      expect(yield* trial.count).toBe(1)
      expect(yield* breaker.state).toMatchObject({ _tag: "Open", openedAt: 1250, retryAt: 2250 })

      const rejected = yield* Effect.flip(breaker.execute(Effect.succeed("no")))
      assert(rejected instanceof CircuitOpenError)
      expect(Duration.toMillis(rejected.retryAfter)).toBe(1000)
      yield* TestClock.adjust(999)
      expect(yield* stateTag(breaker)).toBe("Open")
      yield* TestClock.adjust(1)
      expect(yield* breaker.state).toMatchObject({ _tag: "HalfOpen", successes: 0, trialsInFlight: 0 })
    })
  )
})

// ---------------------------------------------------------------------------------------------------------------------
// Interrupted trials
// ---------------------------------------------------------------------------------------------------------------------

describe("interrupted trial", () => {
  for (const timeout of [false, "10 seconds"] as const) {
    it.effect(`gives its slot back (timeout: ${timeout})`, () =>
      Effect.gen(function* () {
        const breaker = yield* build(`interrupted-trial-${timeout}`, {
          failureThreshold: 1,
          maxRetries: 0,
          resetTimeout: 1000,
          successThreshold: 1,
          timeout
        })
        yield* failTimes(breaker, 1)
        yield* TestClock.adjust(1000)

        const trial = yield* hold<string, string>()
        const fiber = yield* Effect.fork(breaker.execute(trial.effect))
        yield* Deferred.await(trial.started)
        expect(yield* breaker.state).toMatchObject({ _tag: "HalfOpen", trialsInFlight: 1 })
        expect(yield* Effect.flip(breaker.execute(Effect.succeed("blocked")))).toBeInstanceOf(CircuitOpenError)

        const exit = yield* Fiber.interrupt(fiber)
        expect(Exit.isInterrupted(exit)).toBe(true)
        expect(yield* trial.interrupted).toBe(true)
        // Not a failure: still Half-Open, and the slot is free again.
        expect(yield* breaker.state).toMatchObject({ _tag: "HalfOpen", trialsInFlight: 0, successes: 0 })

        const next = yield* tracked(() => Effect.succeed("admitted"))
        expect(yield* breaker.execute(next.effect)).toBe("admitted")
        expect(yield* next.count).toBe(1)
        expect(yield* stateTag(breaker)).toBe("Closed")
      })
    )
  }

  it.effect("is never stuck half-open after repeated interruptions", () =>
    Effect.gen(function* () {
      const breaker = yield* build("interrupted-repeatedly", {
        failureThreshold: 1,
        maxRetries: 0,
        resetTimeout: 1000,
        successThreshold: 2,
        maxConcurrentTrials: 2
      })
      yield* failTimes(breaker, 1)
      yield* TestClock.adjust(1000)
      for (let i = 0; i < 3; i++) {
        const a = yield* hold<string, string>()
        const b = yield* hold<string, string>()
        const fa = yield* Effect.fork(breaker.execute(a.effect))
        const fb = yield* Effect.fork(breaker.execute(b.effect))
        yield* Deferred.await(a.started)
        yield* Deferred.await(b.started)
        yield* Fiber.interrupt(fa)
        yield* Fiber.interrupt(fb)
        expect(yield* breaker.state).toMatchObject({ _tag: "HalfOpen", trialsInFlight: 0 })
      }
      expect(yield* breaker.execute(Effect.succeed(1))).toBe(1)
      expect(yield* breaker.execute(Effect.succeed(2))).toBe(2)
      expect(yield* stateTag(breaker)).toBe("Closed")
    })
  )
})

// ---------------------------------------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------------------------------------

describe("retries", () => {
  it.effect("exponential backoff: attempts at +100, +200, +400 ms; maxRetries 3 means 4 attempts", () =>
    Effect.gen(function* () {
      const breaker = yield* build("retry-exponential", {
        failureThreshold: 10,
        maxRetries: 3,
        retryDelay: 100,
        retryBackoff: "exponential",
        timeout: false
      })
      const probe = yield* tracked((n) => Effect.fail(`error-${n}`))
      const fiber = yield* Effect.fork(breaker.execute(probe.effect))
      yield* settle
      expect(yield* probe.count).toBe(1)
      yield* expectAttemptsAfter(probe.count, [100, 200, 400])
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.fail("error-4"))
      expect(yield* probe.runs).toStrictEqual([0, 100, 300, 700])
      yield* TestClock.adjust("1 minute")
      expect(yield* probe.count).toBe(4)
    })
  )

  it.effect("the defaults retry 3 times, exponentially from 100 ms", () =>
    Effect.gen(function* () {
      const breaker = yield* build("retry-default-backoff", { failureThreshold: 10, timeout: false })
      const probe = yield* tracked((n) => Effect.fail(`error-${n}`))
      const fiber = yield* Effect.fork(breaker.execute(probe.effect))
      yield* TestClock.adjust(700)
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.fail("error-4"))
      expect(gaps(yield* probe.runs)).toStrictEqual([100, 200, 400])
    })
  )

  it.effect("linear backoff: attempts at +100, +200, +300 ms", () =>
    Effect.gen(function* () {
      const breaker = yield* build("retry-linear", {
        failureThreshold: 10,
        maxRetries: 3,
        retryDelay: 100,
        retryBackoff: "linear",
        timeout: false
      })
      const probe = yield* tracked((n) => Effect.fail(`error-${n}`))
      const fiber = yield* Effect.fork(breaker.execute(probe.effect))
      yield* settle
      yield* expectAttemptsAfter(probe.count, [100, 200, 300])
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.fail("error-4"))
      expect(yield* probe.runs).toStrictEqual([0, 100, 300, 600])
    })
  )

  it.effect("maxRetryDelay caps the delays", () =>
    Effect.gen(function* () {
      const breaker = yield* build("retry-capped", {
        failureThreshold: 10,
        maxRetries: 5,
        retryDelay: 100,
        maxRetryDelay: 250,
        timeout: false
      })
      const probe = yield* tracked((n) => Effect.fail(`error-${n}`))
      const fiber = yield* Effect.fork(breaker.execute(probe.effect))
      yield* settle
      yield* expectAttemptsAfter(probe.count, [100, 200, 250, 250, 250])
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.fail("error-6"))
      expect(gaps(yield* probe.runs)).toStrictEqual([100, 200, 250, 250, 250])
    })
  )

  it.effect("jitter keeps each delay within ±20 % of the nominal one", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({
        name: `${PREFIX}retry-jitter`,
        failureThreshold: 10,
        maxRetries: 3,
        retryDelay: 100,
        timeout: false
      })
      expect(breaker.options.jitter).toBe(true)
      const probe = yield* tracked((n) => Effect.fail(`error-${n}`))
      const fiber = yield* Effect.fork(breaker.execute(probe.effect))
      yield* TestClock.adjust("1 minute")
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.fail("error-4"))
      const delays = gaps(yield* probe.runs)
      expect(delays).toHaveLength(3)
      delays.forEach((delay, i) => {
        const nominal = 100 * 2 ** i
        expect(delay).toBeGreaterThanOrEqual(nominal * 0.8)
        expect(delay).toBeLessThanOrEqual(nominal * 1.2)
      })
    })
  )

  it.effect("a retry that succeeds ends the call with its value", () =>
    Effect.gen(function* () {
      const breaker = yield* build("retry-succeeds", { failureThreshold: 10, maxRetries: 3, retryDelay: 100 })
      const probe = yield* tracked((n) => (n < 3 ? Effect.fail(`error-${n}`) : Effect.succeed(`value-${n}`)))
      const fiber = yield* Effect.fork(breaker.execute(probe.effect))
      yield* TestClock.adjust(300)
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.succeed("value-3"))
      expect(yield* probe.count).toBe(3)
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 0 })
    })
  )

  it.effect("maxRetries 0 makes a single attempt", () =>
    Effect.gen(function* () {
      const breaker = yield* build("retry-none", { failureThreshold: 10, maxRetries: 0 })
      const probe = yield* tracked(() => Effect.fail("once"))
      const fiber = yield* Effect.fork(breaker.execute(probe.effect))
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.fail("once"))
      yield* TestClock.adjust("1 minute")
      expect(yield* probe.count).toBe(1)
    })
  )

  it.effect("every attempt is counted by the circuit: one call of 4 failing attempts opens a threshold of 4", () =>
    Effect.gen(function* () {
      const breaker = yield* build("retry-counts-attempts", { failureThreshold: 4, maxRetries: 3, retryDelay: 100 })
      const probe = yield* tracked((n) => Effect.fail(`error-${n}`))
      const fiber = yield* Effect.fork(breaker.execute(probe.effect))
      yield* TestClock.adjust(200)
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 2 })
      yield* TestClock.adjust(500)
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.fail("error-4"))
      expect(yield* probe.count).toBe(4)
      expect(yield* stateTag(breaker)).toBe("Open")
    })
  )

  it.effect("a custom retrySchedule replaces the built-in one", () =>
    Effect.gen(function* () {
      const breaker = yield* build("retry-custom-schedule", {
        failureThreshold: 10,
        maxRetries: 5,
        retryDelay: 1000,
        retrySchedule: Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(1)))
      })
      const probe = yield* tracked((n) => Effect.fail(`error-${n}`))
      const fiber = yield* Effect.fork(breaker.execute(probe.effect))
      yield* settle
      yield* expectAttemptsAfter(probe.count, [50])
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.fail("error-2"))
      yield* TestClock.adjust("1 minute")
      expect(yield* probe.runs).toStrictEqual([0, 50])
    })
  )

  it.effect("the custom retrySchedule is fed with each attempt's error", () =>
    Effect.gen(function* () {
      const breaker = yield* build("retry-schedule-input", {
        failureThreshold: 10,
        retrySchedule: Schedule.spaced("10 millis").pipe(
          Schedule.intersect(Schedule.recurWhile((error: unknown) => error === "transient"))
        )
      })
      const probe = yield* tracked((n) => Effect.fail(n < 3 ? "transient" : "fatal"))
      const fiber = yield* Effect.fork(breaker.execute(probe.effect))
      yield* TestClock.adjust("1 minute")
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.fail("fatal"))
      expect(yield* probe.runs).toStrictEqual([0, 10, 20])
    })
  )
})

// ---------------------------------------------------------------------------------------------------------------------
// Retries stop when the circuit opens
// ---------------------------------------------------------------------------------------------------------------------

describe("retries and an opening circuit", () => {
  it.effect("stops retrying at once when its own failure opens the circuit, with the service's last error", () =>
    Effect.gen(function* () {
      const breaker = yield* build("retry-stops-on-open", { failureThreshold: 2, maxRetries: 5, retryDelay: 100 })
      const probe = yield* tracked((n) => Effect.fail(`error-${n}`))
      const fiber = yield* Effect.fork(breaker.execute(probe.effect))
      yield* TestClock.adjust(100)
      // Done after the 2nd attempt, without waiting for any further retry delay.
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.fail("error-2"))
      expect(yield* probe.runs).toStrictEqual([0, 100])
      expect(yield* stateTag(breaker)).toBe("Open")
      yield* TestClock.adjust("10 seconds")
      expect(yield* probe.count).toBe(2)
    })
  )

  it.effect("ends with its own last error when another caller opened the circuit during its retry delay", () =>
    Effect.gen(function* () {
      const breaker = yield* build("retry-opened-by-other", { failureThreshold: 2, maxRetries: 1, retryDelay: 100 })
      const mine = yield* tracked((n) => Effect.fail(`mine-${n}`))
      const fiber = yield* Effect.fork(breaker.execute(mine.effect))
      yield* TestClock.adjust(50)
      expect(yield* mine.count).toBe(1)
      // Another caller fails: the circuit opens (threshold 2) while the first call waits for its retry.
      expect(yield* Effect.exit(breaker.execute(Effect.fail("other")))).toStrictEqual(Exit.fail("other"))
      expect(yield* stateTag(breaker)).toBe("Open")
      yield* expectRunning(fiber)
      yield* TestClock.adjust(50)
      const exit = yield* doneNow(fiber)
      expect(exit).toStrictEqual(Exit.fail("mine-1"))
      expect(yield* mine.count).toBe(1)
      const metrics = yield* breaker.metrics
      expect(metrics).toMatchObject({ totalCalls: 2, failureCalls: 2, rejectedCalls: 0 })
    })
  )
  it.effect("a retry refused by the open circuit is neither counted nor announced as a retry", () =>
    Effect.gen(function* () {
      // `retries` counts attempts after the first: a retry the circuit refuses never becomes an attempt.
      const breaker = yield* build("retry-refused-not-counted", { failureThreshold: 2, maxRetries: 1, retryDelay: 100 })
      const collector = yield* Effect.fork(breaker.events.pipe(Stream.take(3), Stream.runCollect))
      yield* settle
      const fiber = yield* Effect.fork(breaker.execute(Effect.fail("mine")))
      yield* TestClock.adjust(50)
      yield* Effect.exit(breaker.execute(Effect.fail("other")))
      yield* TestClock.adjust(50)
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.fail("mine"))
      // A marker event after the call, so that the collector gets its 3 events either way.
      yield* breaker.reset
      yield* breaker.execute(Effect.succeed("marker"))
      const events = Chunk.toReadonlyArray(yield* Fiber.join(collector))
      expect(events.map((event) => event._tag)).toStrictEqual(["Failure", "Failure", "Success"])
      expect((yield* breaker.metrics).retries).toBe(0)
    })
  )
})

// ---------------------------------------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------------------------------------

describe("timeouts", () => {
  it.effect("a timeout interrupts only the attempt: the caller's own forked fibers keep running", () =>
    Effect.gen(function* () {
      const breaker = yield* build("timeout-spares-children", { timeout: 100, maxRetries: 0 })
      const ticks = yield* Ref.make(0)
      const release = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        Effect.gen(function* () {
          // A child of the caller's fiber, forked before the call: it must outlive the timeout.
          const background = yield* Effect.fork(
            Effect.forever(
              Effect.zipRight(
                Effect.sleep(10),
                Ref.update(ticks, (n) => n + 1)
              )
            )
          )
          const exit = yield* Effect.exit(breaker.execute(Effect.never))
          yield* Deferred.await(release)
          return { exit, background: yield* Fiber.poll(background) }
        })
      )
      yield* TestClock.adjust(100)
      const before = yield* Ref.get(ticks)
      yield* TestClock.adjust(50)
      expect(yield* Ref.get(ticks)).toBeGreaterThan(before)
      yield* Deferred.succeed(release, undefined)
      const { exit, background } = yield* Fiber.join(fiber)
      assert(Exit.isFailure(exit))
      expect(Cause.squash(exit.cause)).toBeInstanceOf(CircuitTimeoutError)
      expect(background).toStrictEqual(Option.none())
    })
  )

  it.effect(
    "a caller interrupted while the attempt's finalizers run past the timeout: interrupted, no failure counted",
    () =>
      Effect.gen(function* () {
        const breaker = yield* build("timeout-during-interruption", { timeout: 50, maxRetries: 0, failureThreshold: 1 })
        const fiber = yield* Effect.fork(breaker.execute(Effect.never.pipe(Effect.ensuring(Effect.sleep(100)))))
        yield* TestClock.adjust(10)
        const interruption = yield* Effect.fork(Fiber.interrupt(fiber))
        yield* TestClock.adjust(100)
        const exit = yield* Fiber.join(interruption)
        expect(Exit.isInterrupted(exit)).toBe(true)
        expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 0 })
        expect((yield* breaker.metrics).timeoutCalls).toBe(0)
      })
  )

  it.effect("fibers forked by a timed attempt end with it, as with Effect.timeout", () =>
    Effect.gen(function* () {
      const breaker = yield* build("timeout-attempt-children", { timeout: 1000, maxRetries: 0 })
      const ticks = yield* Ref.make(0)
      const child = yield* breaker.execute(
        Effect.fork(
          Effect.forever(
            Effect.zipRight(
              Effect.sleep(5),
              Ref.update(ticks, (n) => n + 1)
            )
          )
        )
      )
      yield* TestClock.adjust(50)
      expect(yield* Ref.get(ticks)).toBe(0)
      expect(Exit.isInterrupted(yield* Fiber.await(child))).toBe(true)
    })
  )

  it.effect("nested breakers: the inner timeout is the inner call's, and the outer call goes on", () =>
    Effect.gen(function* () {
      const outer = yield* build("timeout-outer", { timeout: 1000, maxRetries: 0 })
      const inner = yield* build("timeout-inner", { timeout: 100, maxRetries: 0 })
      const fiber = yield* Effect.fork(
        outer.execute(
          inner.execute(Effect.never).pipe(
            Effect.catchTag("CircuitTimeoutError", () => Effect.succeed("inner timed out")),
            Effect.zipLeft(Effect.sleep(200))
          )
        )
      )
      yield* TestClock.adjust(100)
      yield* expectRunning(fiber)
      yield* TestClock.adjust(200)
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.succeed("inner timed out"))
      expect(yield* outer.state).toMatchObject({ _tag: "Closed", tally: 0 })
      expect(yield* inner.state).toMatchObject({ _tag: "Closed", tally: 1 })
    })
  )

  it.effect("an interruption of the caller during a timed attempt still interrupts the caller", () =>
    Effect.gen(function* () {
      const breaker = yield* build("timeout-caller-interrupted", { timeout: 1000, maxRetries: 0 })
      const fiber = yield* Effect.fork(breaker.execute(Effect.never))
      yield* TestClock.adjust(10)
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      yield* TestClock.adjust(2000)
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 0 })
    })
  )

  it.effect(
    "in an uninterruptible region the attempt completes, and a timeout is reported as with Effect.timeout",
    () =>
      Effect.gen(function* () {
        const breaker = yield* build("timeout-uninterruptible", { timeout: 100, maxRetries: 0 })
        const fiber = yield* Effect.fork(Effect.uninterruptible(breaker.execute(Effect.as(Effect.sleep(300), "done"))))
        yield* TestClock.adjust(300)
        const exit = yield* Fiber.await(fiber)
        expect(Exit.isFailure(exit) ? Cause.squash(exit.cause) : exit.value).toBeInstanceOf(CircuitTimeoutError)
      })
  )

  it.effect("interrupts a slow attempt, counts it as a failure, retries, and fails with CircuitTimeoutError", () =>
    Effect.gen(function* () {
      const name = "timeout-interrupts"
      const breaker = yield* build(name, { timeout: 100, maxRetries: 1, retryDelay: 50 })
      const log = yield* Ref.make<Array<string>>([])
      const append = (line: string) => Ref.update(log, (lines) => [...lines, line])
      const probe = yield* tracked((n) =>
        Effect.never.pipe(
          Effect.onInterrupt(() => append(`interrupted ${n}`)),
          // A finalizer that takes a few turns of the scheduler: the caller must wait for it.
          Effect.ensuring(Effect.yieldNow().pipe(Effect.repeatN(5), Effect.zipRight(append(`finalized ${n}`))))
        )
      )
      const fiber = yield* Effect.fork(
        breaker.execute(probe.effect).pipe(Effect.tapError((error) => append(`caller got ${error._tag}`)))
      )
      yield* TestClock.adjust(99)
      expect(yield* Ref.get(log)).toStrictEqual([])
      yield* TestClock.adjust(1)
      expect(yield* Ref.get(log)).toStrictEqual(["interrupted 1", "finalized 1"])
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 1 })
      yield* expectAttemptsAfter(probe.count, [50])
      yield* TestClock.adjust(99)
      yield* expectRunning(fiber)
      yield* TestClock.adjust(1)
      const exit = yield* doneNow(fiber)
      assert(Exit.isFailure(exit))
      const error = Cause.squash(exit.cause)
      assert(error instanceof CircuitTimeoutError)
      expect(error.circuit).toBe(`${PREFIX}${name}`)
      expect(Duration.toMillis(error.timeout)).toBe(100)
      expect(error.attempt).toBe(2)
      expect(yield* Ref.get(log)).toStrictEqual([
        "interrupted 1",
        "finalized 1",
        "interrupted 2",
        "finalized 2",
        "caller got CircuitTimeoutError"
      ])
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 2 })
      expect(yield* probe.runs).toStrictEqual([0, 150])
    })
  )

  it.effect("a timed-out attempt can open the circuit", () =>
    Effect.gen(function* () {
      const breaker = yield* build("timeout-opens", { timeout: 100, maxRetries: 3, failureThreshold: 1 })
      const fiber = yield* Effect.fork(breaker.execute(Effect.never))
      yield* TestClock.adjust(100)
      const exit = yield* doneNow(fiber)
      assert(Exit.isFailure(exit))
      expect(Cause.squash(exit.cause)).toMatchObject({ _tag: "CircuitTimeoutError", attempt: 1 })
      expect(yield* stateTag(breaker)).toBe("Open")
    })
  )

  it.effect("the call fails with the effect's own error when only an earlier attempt timed out", () =>
    Effect.gen(function* () {
      const breaker = yield* build("timeout-then-error", { timeout: 100, maxRetries: 1, retryDelay: 50 })
      const probe = yield* tracked((n) => (n === 1 ? Effect.never : Effect.fail("boom")))
      const fiber = yield* Effect.fork(breaker.execute(probe.effect))
      yield* TestClock.adjust(150)
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.fail("boom"))
      expect(yield* probe.count).toBe(2)
    })
  )

  it.effect("timeout: false disables it", () =>
    Effect.gen(function* () {
      const breaker = yield* build("timeout-disabled", { timeout: false, maxRetries: 0 })
      expect(Duration.isFinite(breaker.options.timeout)).toBe(false)
      const fiber = yield* Effect.fork(breaker.execute(Effect.as(Effect.sleep("1 hour"), "slow but fine")))
      yield* TestClock.adjust("59 minutes")
      yield* expectRunning(fiber)
      yield* TestClock.adjust("1 minute")
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.succeed("slow but fine"))
      expect(yield* breaker.metrics).toMatchObject({ successCalls: 1, timeoutCalls: 0 })
    })
  )

  it.effect("the default timeout is 10 seconds", () =>
    Effect.gen(function* () {
      const breaker = yield* build("timeout-default", { maxRetries: 0 })
      const fiber = yield* Effect.fork(breaker.execute(Effect.never))
      yield* TestClock.adjust(9_999)
      yield* expectRunning(fiber)
      yield* TestClock.adjust(1)
      const exit = yield* doneNow(fiber)
      assert(Exit.isFailure(exit))
      expect(Cause.squash(exit.cause)).toBeInstanceOf(CircuitTimeoutError)
    })
  )

  it.effect("an effect that finishes before the deadline is not affected", () =>
    Effect.gen(function* () {
      const breaker = yield* build("timeout-not-reached", { timeout: 100, maxRetries: 0 })
      const interrupted = yield* Ref.make(false)
      const effect = Effect.sleep(99).pipe(
        Effect.as("in time"),
        Effect.onInterrupt(() => Ref.set(interrupted, true))
      )
      const fiber = yield* Effect.fork(breaker.execute(effect))
      yield* TestClock.adjust(99)
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.succeed("in time"))
      yield* TestClock.adjust(1000)
      expect(yield* Ref.get(interrupted)).toBe(false)
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 0 })
      expect(yield* breaker.metrics).toMatchObject({ totalCalls: 1, successCalls: 1, timeoutCalls: 0 })
    })
  )

  it.effect("an effect that completes synchronously works with the timeout on", () =>
    Effect.gen(function* () {
      const breaker = yield* build("timeout-sync", { timeout: 100, maxRetries: 0, failureThreshold: 10 })
      expect(yield* breaker.execute(Effect.succeed(42))).toBe(42)
      expect(yield* breaker.execute(Effect.sync(() => "sync"))).toBe("sync")
      expect(yield* Effect.exit(breaker.execute(Effect.fail("sync failure")))).toStrictEqual(Exit.fail("sync failure"))
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 1 })
      yield* TestClock.adjust(1000)
      expect(yield* breaker.metrics).toMatchObject({ successCalls: 2, failureCalls: 1, timeoutCalls: 0 })
    })
  )

  for (const timeout of [false, 1000] as const) {
    it.effect(`FiberRef changes made by the effect reach the caller (timeout: ${timeout})`, () =>
      Effect.gen(function* () {
        // As with Effect.timeout: running under a timeout must not change what the effect does to its fiber.
        const ref = FiberRef.unsafeMake("initial")
        const breaker = yield* build(`timeout-fiber-refs-${timeout}`, { timeout })
        yield* breaker.execute(FiberRef.set(ref, "set by the effect"))
        expect(yield* FiberRef.get(ref)).toBe("set by the effect")
      })
    )
  }

  it.effect("interrupting the caller interrupts the running attempt too", () =>
    Effect.gen(function* () {
      const breaker = yield* build("timeout-caller-interrupted", { timeout: 100, maxRetries: 3 })
      const attempt = yield* hold<string, string>()
      const fiber = yield* Effect.fork(breaker.execute(attempt.effect))
      yield* Deferred.await(attempt.started)
      yield* TestClock.adjust(50)
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(yield* attempt.interrupted).toBe(true)
      // No timeout fires later, and the interruption is not a failure of the service.
      yield* TestClock.adjust(1000)
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 0 })
      expect(yield* breaker.metrics).toMatchObject({ timeoutCalls: 0, failureCalls: 0, retries: 0 })
    })
  )
})

// ---------------------------------------------------------------------------------------------------------------------
// isFailure and defects
// ---------------------------------------------------------------------------------------------------------------------

describe("isFailure and defects", () => {
  const isFailure = (error: unknown) => error !== "not-found"

  it.effect("an error isFailure rejects fails the call at once, without retry", () =>
    Effect.gen(function* () {
      const breaker = yield* build("is-failure-no-retry", { isFailure, maxRetries: 3, failureThreshold: 1 })
      const probe = yield* tracked(() => Effect.fail("not-found"))
      const fiber = yield* Effect.fork(breaker.execute(probe.effect))
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.fail("not-found"))
      yield* TestClock.adjust("1 minute")
      expect(yield* probe.count).toBe(1)
      expect(yield* stateTag(breaker)).toBe("Closed")
    })
  )

  it.effect("an error isFailure rejects counts as a success for the circuit", () =>
    Effect.gen(function* () {
      const breaker = yield* build("is-failure-success", { isFailure, maxRetries: 0, failureThreshold: 2 })
      yield* failTimes(breaker, 1)
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 1 })
      yield* failTimes(breaker, 1, "not-found")
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 0 })
      yield* failTimes(breaker, 1)
      expect(yield* stateTag(breaker)).toBe("Closed")
      yield* failTimes(breaker, 1)
      expect(yield* stateTag(breaker)).toBe("Open")
    })
  )

  it.effect("errors isFailure accepts are retried and counted", () =>
    Effect.gen(function* () {
      const breaker = yield* build("is-failure-accepted", { isFailure, maxRetries: 2, failureThreshold: 10 })
      const probe = yield* tracked(() => Effect.fail("unavailable"))
      const fiber = yield* Effect.fork(breaker.execute(probe.effect))
      yield* TestClock.adjust(300)
      expect(yield* doneNow(fiber)).toStrictEqual(Exit.fail("unavailable"))
      expect(yield* probe.count).toBe(3)
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 3 })
    })
  )

  it.effect("a defect counts as a failure and is not retried", () =>
    Effect.gen(function* () {
      const breaker = yield* build("defect", { maxRetries: 3, failureThreshold: 2 })
      const defect = new Error("bug")
      const probe = yield* tracked(() => Effect.die(defect))
      const fiber = yield* Effect.fork(breaker.execute(probe.effect))
      const exit = yield* doneNow(fiber)
      assert(Exit.isFailure(exit))
      expect(Cause.isDie(exit.cause)).toBe(true)
      expect(Cause.squash(exit.cause)).toBe(defect)
      yield* TestClock.adjust("1 minute")
      expect(yield* probe.count).toBe(1)
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 1 })
      yield* Effect.exit(breaker.execute(probe.effect))
      expect(yield* stateTag(breaker)).toBe("Open")
    })
  )
})

// ---------------------------------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------------------------------

describe("metrics", () => {
  it.effect("counts calls, outcomes, retries and latency as documented", () =>
    Effect.gen(function* () {
      const breaker = yield* build("metrics-counters", {
        failureThreshold: 3,
        maxRetries: 1,
        retryDelay: 100,
        timeout: 1000,
        resetTimeout: "1 minute"
      })
      // 1. Succeeds at once (0 ms).
      expect(yield* breaker.execute(Effect.succeed("ok"))).toBe("ok")
      // 2. Fails, then succeeds on its retry (100 ms).
      const flaky = yield* tracked((n) => (n === 1 ? Effect.fail("flaky") : Effect.succeed("recovered")))
      const second = yield* Effect.fork(breaker.execute(flaky.effect))
      yield* TestClock.adjust(100)
      expect(yield* Fiber.join(second)).toBe("recovered")
      // 3. Both attempts time out (1000 + 100 + 1000 ms).
      const third = yield* Effect.fork(breaker.execute(Effect.never))
      yield* TestClock.adjust(2100)
      const thirdExit = yield* doneNow(third)
      assert(Exit.isFailure(thirdExit))
      expect(Cause.squash(thirdExit.cause)).toBeInstanceOf(CircuitTimeoutError)
      // 4. Fails and opens the circuit (0 ms).
      expect(yield* Effect.exit(breaker.execute(Effect.fail("down")))).toStrictEqual(Exit.fail("down"))
      // 5. Rejected.
      expect(yield* Effect.flip(breaker.execute(Effect.succeed("no")))).toBeInstanceOf(CircuitOpenError)

      const metrics = yield* breaker.metrics
      expect(metrics).toMatchObject({
        name: `${PREFIX}metrics-counters`,
        state: "Open",
        totalCalls: 5,
        successCalls: 2,
        failureCalls: 3,
        rejectedCalls: 1,
        timeoutCalls: 1,
        retries: 2
      })
      expect(metrics.totalCalls).toBe(metrics.successCalls + metrics.failureCalls)
      expect(metrics.latency).toStrictEqual({ count: 4, mean: 550, p50: 0, p90: 2100, p99: 2100, max: 2100 })

      expect(metrics.lastFailures).toMatchObject([
        { attempt: 1, error: "flaky", timestamp: 0 },
        { attempt: 1, timestamp: 1100 },
        { attempt: 2, timestamp: 2200 },
        { attempt: 1, error: "down", timestamp: 2200 }
      ])
      expect(metrics.lastFailures[1]!.error).toMatchObject({ _tag: "CircuitTimeoutError", attempt: 1 })
      expect(metrics.lastFailures[2]!.error).toMatchObject({ _tag: "CircuitTimeoutError", attempt: 2 })
    })
  )

  it.effect("failure contexts carry a UUID v7, the error, the TestClock time, the service and the attempt", () =>
    Effect.gen(function* () {
      const start = 1_700_000_000_000
      yield* TestClock.setTime(start)
      const breaker = yield* build("metrics-failure-context", {
        serviceId: "payments-api",
        failureThreshold: 10,
        maxRetries: 1,
        retryDelay: 100
      })
      const fiber = yield* Effect.fork(breaker.execute(Effect.fail("down")))
      yield* TestClock.adjust(100)
      yield* Fiber.await(fiber)
      const { lastFailures } = yield* breaker.metrics
      expect(lastFailures).toHaveLength(2)
      lastFailures.forEach((failure, i) => {
        expect(failure).toMatchObject({
          error: "down",
          timestamp: start + i * 100,
          serviceId: "payments-api",
          circuit: `${PREFIX}metrics-failure-context`,
          attempt: i + 1
        })
        expect(failure.id).toMatch(UUID_V7)
        // A v7 id begins with its millisecond timestamp.
        expect(Number.parseInt(failure.id.replace(/-/g, "").slice(0, 12), 16)).toBe(failure.timestamp)
      })
      expect(lastFailures[0]!.id).not.toBe(lastFailures[1]!.id)
    })
  )

  it.effect("serviceId defaults to the name", () =>
    Effect.gen(function* () {
      const breaker = yield* build("metrics-service-default", { maxRetries: 0 })
      yield* failTimes(breaker, 1)
      const { lastFailures } = yield* breaker.metrics
      expect(lastFailures[0]!.serviceId).toBe(`${PREFIX}metrics-service-default`)
    })
  )

  it.effect("lastFailures keeps the 10 most recent failures by default, oldest first", () =>
    Effect.gen(function* () {
      const breaker = yield* build("metrics-history-default", { failureThreshold: 100, maxRetries: 0 })
      for (let i = 1; i <= 12; i++) {
        yield* Effect.exit(breaker.execute(Effect.fail(`e${i}`)))
        yield* TestClock.adjust(10)
      }
      const { lastFailures } = yield* breaker.metrics
      expect(lastFailures.map((f) => f.error)).toStrictEqual(Array.from({ length: 10 }, (_, i) => `e${i + 3}`))
      expect(lastFailures.map((f) => f.timestamp)).toStrictEqual(Array.from({ length: 10 }, (_, i) => (i + 2) * 10))
    })
  )

  it.effect("failureHistorySize bounds lastFailures; 0 keeps none", () =>
    Effect.gen(function* () {
      const three = yield* build("metrics-history-3", { failureThreshold: 100, maxRetries: 0, failureHistorySize: 3 })
      const none = yield* build("metrics-history-0", { failureThreshold: 100, maxRetries: 0, failureHistorySize: 0 })
      for (let i = 1; i <= 5; i++) {
        yield* Effect.exit(three.execute(Effect.fail(`e${i}`)))
        yield* Effect.exit(none.execute(Effect.fail(`e${i}`)))
      }
      expect((yield* three.metrics).lastFailures.map((f) => f.error)).toStrictEqual(["e3", "e4", "e5"])
      const noneMetrics = yield* none.metrics
      expect(noneMetrics.lastFailures).toStrictEqual([])
      expect(noneMetrics.failureCalls).toBe(5)
    })
  )

  it.effect("metricsTracking: false leaves every counter at 0", () =>
    Effect.gen(function* () {
      const name = "metrics-off"
      const breaker = yield* build(name, { metricsTracking: false, failureThreshold: 1, maxRetries: 1 })
      expect(yield* breaker.execute(Effect.succeed(1))).toBe(1)
      const fiber = yield* Effect.fork(breaker.execute(Effect.fail("boom")))
      yield* TestClock.adjust(100)
      yield* Fiber.await(fiber)
      expect(yield* Effect.flip(breaker.execute(Effect.succeed(1)))).toBeInstanceOf(CircuitOpenError)
      expect(yield* breaker.metrics).toStrictEqual({
        name: `${PREFIX}${name}`,
        state: "Open",
        totalCalls: 0,
        successCalls: 0,
        failureCalls: 0,
        rejectedCalls: 0,
        timeoutCalls: 0,
        ignoredCalls: 0,
        retries: 0,
        failureRate: -1,
        slowCallRate: -1,
        slowCalls: 0,
        bulkheadRejections: 0,
        fallbackCalls: 0,
        mode: "normal",
        latency: { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 },
        lastFailures: []
      })
      const calls = Metric.tagged(CircuitBreakerMetrics.effectMetrics.calls, "circuit", `${PREFIX}${name}`)
      expect((yield* Metric.value(calls)).count).toBe(0)
    })
  )

  it.effect("updates the Effect metrics tagged with the circuit name", () =>
    Effect.gen(function* () {
      const name = `${PREFIX}effect-metrics`
      const { effectMetrics } = CircuitBreakerMetrics
      const value = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>) =>
        Metric.value(Metric.tagged(metric, "circuit", name))
      const breaker = yield* CircuitBreaker.make({
        name,
        failureThreshold: 2,
        maxRetries: 1,
        retryDelay: 100,
        jitter: false,
        resetTimeout: 1000,
        successThreshold: 1
      })
      expect(yield* breaker.execute(Effect.succeed(1))).toBe(1)
      expect(yield* breaker.execute(Effect.succeed(2))).toBe(2)
      const failing = yield* Effect.fork(breaker.execute(Effect.fail("boom")))
      yield* TestClock.adjust(100)
      yield* Fiber.await(failing)
      expect(yield* Effect.flip(breaker.execute(Effect.succeed(3)))).toBeInstanceOf(CircuitOpenError)

      expect((yield* value(effectMetrics.calls)).count).toBe(4)
      expect((yield* value(effectMetrics.successes)).count).toBe(2)
      expect((yield* value(effectMetrics.failures)).count).toBe(2)
      expect((yield* value(effectMetrics.rejections)).count).toBe(1)
      expect((yield* value(effectMetrics.retries)).count).toBe(1)
      expect((yield* value(effectMetrics.timeouts)).count).toBe(0)
      expect((yield* value(effectMetrics.latency)).count).toBe(3)
      expect((yield* value(effectMetrics.state)).value).toBe(2)

      yield* TestClock.adjust(1000)
      expect(yield* stateTag(breaker)).toBe("HalfOpen")
      expect((yield* value(effectMetrics.state)).value).toBe(1)
      expect(yield* breaker.execute(Effect.succeed(4))).toBe(4)
      expect((yield* value(effectMetrics.state)).value).toBe(0)
    })
  )
})

// ---------------------------------------------------------------------------------------------------------------------
// Streams and logs
// ---------------------------------------------------------------------------------------------------------------------

describe("changes", () => {
  it.effect("publishes every change of state with the failure that caused it, and logs each", () => {
    const lines: Array<{ readonly message: string; readonly circuit: unknown }> = []
    const logger = Logger.make(({ annotations, message }) => {
      lines.push({
        message: Array.isArray(message) ? message.join(" ") : String(message),
        circuit: Option.getOrUndefined(HashMap.get(annotations, "circuit"))
      })
    })
    const circuit = `${PREFIX}changes`
    return Effect.gen(function* () {
      const breaker = yield* build("changes", {
        failureThreshold: 2,
        maxRetries: 0,
        successThreshold: 1,
        resetTimeout: 1000
      })
      const collector = yield* Effect.fork(breaker.changes.pipe(Stream.take(6), Stream.runCollect))
      yield* settle

      yield* failTimes(breaker, 1, "first")
      yield* failTimes(breaker, 1, "second") // Closed → Open at 0
      yield* TestClock.adjust(1000)
      expect(yield* stateTag(breaker)).toBe("HalfOpen") // Open → HalfOpen at 1000, seen with no call
      yield* TestClock.adjust(200)
      yield* failTimes(breaker, 1, "trial failed") // HalfOpen → Open at 1200
      yield* TestClock.adjust(1100)
      expect(yield* breaker.execute(Effect.succeed("ok"))).toBe("ok") // Open → HalfOpen at 2200, → Closed at 2300
      yield* breaker.trip // Closed → Open at 2300

      const changes = Chunk.toReadonlyArray(yield* Fiber.join(collector))
      expect(changes).toStrictEqual([
        { circuit, from: "Closed", to: "Open", at: 0, cause: "second", reason: undefined },
        { circuit, from: "Open", to: "HalfOpen", at: 1000, cause: undefined, reason: undefined },
        { circuit, from: "HalfOpen", to: "Open", at: 1200, cause: "trial failed", reason: undefined },
        { circuit, from: "Open", to: "HalfOpen", at: 2200, cause: undefined, reason: undefined },
        { circuit, from: "HalfOpen", to: "Closed", at: 2300, cause: undefined, reason: undefined },
        { circuit, from: "Closed", to: "Open", at: 2300, cause: undefined, reason: "trip" }
      ])
      const stateLines = lines.filter((line) => line.message.startsWith("circuit "))
      expect(stateLines).toStrictEqual(
        changes.map((change) => ({ message: `circuit ${change.from} -> ${change.to}`, circuit }))
      )
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
  })

  it.effect("publishes only the changes after subscription", () =>
    Effect.gen(function* () {
      const breaker = yield* build("changes-late", { failureThreshold: 1, maxRetries: 0 })
      yield* breaker.trip
      yield* breaker.reset
      const collector = yield* Effect.fork(breaker.changes.pipe(Stream.take(1), Stream.runCollect))
      yield* settle
      yield* breaker.trip
      const changes = Chunk.toReadonlyArray(yield* Fiber.join(collector))
      expect(changes).toMatchObject([{ from: "Closed", to: "Open" }])
    })
  )
})

describe("events", () => {
  it.effect("reports Success, Failure, Timeout, Retry and Rejected outcomes", () =>
    Effect.gen(function* () {
      const circuit = `${PREFIX}events`
      const breaker = yield* build("events", { failureThreshold: 2, maxRetries: 1, retryDelay: 100, timeout: 50 })
      const collector = yield* Effect.fork(breaker.events.pipe(Stream.take(8), Stream.runCollect))
      yield* settle

      // 1. Success.
      yield* breaker.execute(Effect.succeed(1))
      // 2. Times out, then succeeds on the retry.
      const slowThenFast = yield* tracked((n) => (n === 1 ? Effect.never : Effect.succeed(2)))
      const second = yield* Effect.fork(breaker.execute(slowThenFast.effect))
      yield* TestClock.adjust(150)
      expect(yield* Fiber.join(second)).toBe(2)
      // 3. Fails twice: the second failure opens the circuit.
      const third = yield* Effect.fork(breaker.execute(Effect.fail("boom")))
      yield* TestClock.adjust(100)
      yield* Fiber.await(third)
      // 4. Rejected.
      yield* Effect.exit(breaker.execute(Effect.succeed(4)))

      const events = Chunk.toReadonlyArray(yield* Fiber.join(collector))
      expect(events).toStrictEqual([
        { _tag: "Success", circuit, attempt: 1, latency: 0 },
        { _tag: "Timeout", circuit, attempt: 1, latency: 50, error: expect.any(CircuitTimeoutError) },
        { _tag: "Retry", circuit, attempt: 2 },
        { _tag: "Success", circuit, attempt: 2, latency: 0 },
        { _tag: "Failure", circuit, attempt: 1, latency: 0, error: "boom" },
        { _tag: "Retry", circuit, attempt: 2 },
        { _tag: "Failure", circuit, attempt: 2, latency: 0, error: "boom" },
        { _tag: "Rejected", circuit, attempt: 1 }
      ])
      const timeout = events[1]
      assert(timeout?._tag === "Timeout")
      expect(timeout.error.attempt).toBe(1)
      expect(Duration.toMillis(timeout.error.timeout)).toBe(50)
    })
  )
})

// ---------------------------------------------------------------------------------------------------------------------
// Manual control
// ---------------------------------------------------------------------------------------------------------------------

describe("reset and trip", () => {
  it.effect("reset closes an open circuit at once", () =>
    Effect.gen(function* () {
      const breaker = yield* build("reset", { failureThreshold: 1, maxRetries: 0, resetTimeout: "1 hour" })
      yield* failTimes(breaker, 1)
      expect(yield* stateTag(breaker)).toBe("Open")
      yield* breaker.reset
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 0 })
      const probe = yield* tracked(() => Effect.succeed("runs"))
      expect(yield* breaker.execute(probe.effect)).toBe("runs")
      expect(yield* probe.count).toBe(1)
    })
  )

  it.effect("without a timeout, a failure admitted before a reset does not count in the new Closed generation", () =>
    Effect.gen(function* () {
      const breaker = yield* build("reset-untimed-generation", { failureThreshold: 1, maxRetries: 0, timeout: false })
      const held = yield* hold<never, string>()
      const call = yield* Effect.fork(Effect.exit(breaker.execute(held.effect)))
      yield* Deferred.await(held.started)
      yield* breaker.reset
      yield* Deferred.fail(held.release, "boom")
      yield* Fiber.join(call)
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", generation: 1, tally: 0 })
      // A call of the new generation is admitted as such: its failure counts.
      yield* failTimes(breaker, 1)
      expect(yield* stateTag(breaker)).toBe("Open")
    })
  )

  it.effect("reset closes a half-open circuit too", () =>
    Effect.gen(function* () {
      const breaker = yield* build("reset-half-open", { failureThreshold: 1, maxRetries: 0, resetTimeout: 1000 })
      yield* failTimes(breaker, 1)
      yield* TestClock.adjust(1000)
      expect(yield* stateTag(breaker)).toBe("HalfOpen")
      yield* breaker.reset
      expect(yield* stateTag(breaker)).toBe("Closed")
    })
  )

  it.effect("trip opens a closed circuit at once; it half-opens after resetTimeout", () =>
    Effect.gen(function* () {
      const breaker = yield* build("trip", { resetTimeout: 1000 })
      yield* TestClock.adjust(500)
      yield* breaker.trip
      expect(yield* breaker.state).toMatchObject({ _tag: "Open", openedAt: 500, retryAt: 1500 })
      const probe = yield* tracked(() => Effect.succeed("no"))
      const rejected = yield* Effect.flip(breaker.execute(probe.effect))
      assert(rejected instanceof CircuitOpenError)
      expect(Duration.toMillis(rejected.retryAfter)).toBe(1000)
      expect(yield* probe.count).toBe(0)
      yield* TestClock.adjust(1000)
      expect(yield* stateTag(breaker)).toBe("HalfOpen")
    })
  )
})

// ---------------------------------------------------------------------------------------------------------------------
// withCircuitBreaker and stores
// ---------------------------------------------------------------------------------------------------------------------

describe("withCircuitBreaker", () => {
  it.effect("works data-last in pipe and data-first", () =>
    Effect.gen(function* () {
      const breaker = yield* build("with-dual", { failureThreshold: 2, maxRetries: 0 })
      expect(yield* Effect.succeed("last").pipe(CircuitBreaker.withCircuitBreaker(breaker))).toBe("last")
      expect(yield* CircuitBreaker.withCircuitBreaker(Effect.succeed("first"), breaker)).toBe("first")
      // Both go through the same circuit: one failure each opens it.
      yield* Effect.exit(Effect.fail("a").pipe(CircuitBreaker.withCircuitBreaker(breaker)))
      yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.fail("b"), breaker))
      expect(yield* stateTag(breaker)).toBe("Open")
      const rejected = yield* Effect.flip(Effect.succeed(1).pipe(CircuitBreaker.withCircuitBreaker(breaker)))
      expect(rejected).toBeInstanceOf(CircuitOpenError)
      expect(CircuitBreaker.isCircuitBreaker(breaker)).toBe(true)
      expect(CircuitBreaker.isCircuitBreaker({ name: "x" })).toBe(false)
    })
  )

  it.effect("breakers with the same name in one store layer share one circuit", () =>
    Effect.gen(function* () {
      const a = yield* build("shared")
      const b = yield* build("shared")
      yield* a.trip
      expect(yield* stateTag(b)).toBe("Open")
      const probe = yield* tracked(() => Effect.succeed("no"))
      expect(yield* Effect.flip(b.execute(probe.effect))).toBeInstanceOf(CircuitOpenError)
      expect(yield* probe.count).toBe(0)
      yield* b.reset
      expect(yield* stateTag(a)).toBe("Closed")
      // Failures through either breaker count toward the same circuit.
      const c = yield* build("shared-count", { failureThreshold: 2, maxRetries: 0 })
      const d = yield* build("shared-count", { failureThreshold: 2, maxRetries: 0 })
      yield* failTimes(c, 1)
      yield* failTimes(d, 1)
      expect(yield* stateTag(c)).toBe("Open")
    }).pipe(Effect.provide(CircuitBreakerStore.layerMemory))
  )

  it.effect("breakers built without a store layer are independent", () =>
    Effect.gen(function* () {
      const a = yield* build("independent")
      const b = yield* build("independent")
      yield* a.trip
      expect(yield* stateTag(a)).toBe("Open")
      expect(yield* stateTag(b)).toBe("Closed")
      expect(yield* b.execute(Effect.succeed("runs"))).toBe("runs")
    })
  )
})

describe("distributedTracking", () => {
  it.effect("fails make with CircuitBreakerConfigError with the in-memory store", () =>
    Effect.gen(function* () {
      const withLayer = yield* Effect.flip(
        build("distributed", { distributedTracking: true }).pipe(Effect.provide(CircuitBreakerStore.layerMemory))
      )
      expect(withLayer).toBeInstanceOf(CircuitBreakerConfigError)
      expect(withLayer.option).toBe("distributedTracking")
      const withoutLayer = yield* Effect.flip(build("distributed", { distributedTracking: true }))
      expect(withoutLayer).toBeInstanceOf(CircuitBreakerConfigError)
      expect(withoutLayer.option).toBe("distributedTracking")
    })
  )
})

describe("an isFailure predicate that throws", () => {
  it.effect("counts the error as a failure, and a Half-Open trial still gives its slot back", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({
        name: "cb-executor-throwing-predicate",
        failureThreshold: 1,
        successThreshold: 1,
        resetTimeout: 1000,
        maxRetries: 0,
        timeout: false,
        isFailure: (error) => {
          if (error === "weird") throw new Error("predicate bug")
          return true
        }
      })
      expect(yield* Effect.flip(breaker.execute(Effect.fail("weird")))).toBe("weird")
      expect((yield* breaker.state)._tag).toBe("Open")
      yield* TestClock.adjust(1000)
      // The trial fails with the error the predicate chokes on: the circuit reopens, no slot is kept.
      expect(yield* Effect.flip(breaker.execute(Effect.fail("weird")))).toBe("weird")
      expect((yield* breaker.state)._tag).toBe("Open")
      yield* TestClock.adjust(1000)
      expect(yield* breaker.execute(Effect.succeed(1))).toBe(1)
      expect((yield* breaker.state)._tag).toBe("Closed")
    })
  )
})

// ---------------------------------------------------------------------------------------------------------------------
// Trial permits expire
// ---------------------------------------------------------------------------------------------------------------------

describe("trial permits expire", () => {
  /** A breaker over `store`, a circuit it shares with the (simulated) other instances writing there. */
  const buildOn = (store: CircuitBreakerStore.Store, name: string, options: CircuitBreaker.CircuitBreaker.Options) =>
    build(name, options).pipe(Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store))

  it.effect("a trial holder that never reports back: after the TTL, a call is admitted as a trial", () =>
    Effect.gen(function* () {
      const store = CircuitBreakerStore.makeMemory()
      const breaker = yield* buildOn(store, "dead-holder", {
        failureThreshold: 1,
        successThreshold: 2,
        resetTimeout: 1000,
        maxRetries: 0,
        timeout: "5 seconds"
      })
      // The default TTL: the timeout, plus 1 s.
      expect(breaker.policy.trialPermitTtl).toBe(6000)
      // Another instance took both trial permits at 0, then died: nothing will ever report back.
      const wedged = {
        _tag: "HalfOpen",
        generation: 2,
        since: 0,
        trialsInFlight: 2,
        successes: 0,
        permitsExpireAt: 6000
      } as const
      expect(yield* store.compareAndSet(breaker.name, 0, wedged)).toBe(true)

      const probe = yield* tracked(() => Effect.succeed("trial"))
      const early = yield* Effect.flip(breaker.execute(probe.effect))
      assert(early instanceof CircuitOpenError)
      expect(Duration.toMillis(early.retryAfter)).toBe(1000)
      yield* TestClock.adjust(5999)
      const last = yield* Effect.flip(breaker.execute(probe.effect))
      assert(last instanceof CircuitOpenError)
      expect(Duration.toMillis(last.retryAfter)).toBe(1)
      expect(yield* breaker.state).toStrictEqual(wedged)
      expect(yield* probe.count).toBe(0)

      yield* TestClock.adjust(1)
      // Time alone gives the slots back, in a new generation.
      expect(yield* breaker.state).toStrictEqual({ ...wedged, generation: 3, trialsInFlight: 0 })
      const trial = yield* hold<string, string>()
      const fiber = yield* Effect.fork(breaker.execute(trial.effect))
      yield* Deferred.await(trial.started)
      expect(yield* breaker.state).toStrictEqual({
        ...wedged,
        generation: 3,
        trialsInFlight: 1,
        permitsExpireAt: 12_000
      })
      yield* Deferred.succeed(trial.release, "admitted")
      expect(yield* Fiber.join(fiber)).toBe("admitted")
      expect(yield* breaker.state).toMatchObject({ _tag: "HalfOpen", generation: 3, trialsInFlight: 0, successes: 1 })
      expect(yield* breaker.execute(probe.effect)).toBe("trial")
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", generation: 4, tally: 0 })
    })
  )

  it.effect("a late outcome of an expired permit is ignored", () =>
    Effect.gen(function* () {
      const breaker = yield* build("late-outcome", {
        failureThreshold: 1,
        successThreshold: 1,
        resetTimeout: 1000,
        maxRetries: 0,
        timeout: false,
        trialPermitTtl: 2000
      })
      yield* failTimes(breaker, 1)
      yield* TestClock.adjust(1000)
      // A trial that outlives its permit (a TTL shorter than the call: the configuration this option warns against).
      const slow = yield* hold<string, string>()
      const slowFiber = yield* Effect.fork(breaker.execute(slow.effect))
      yield* Deferred.await(slow.started)
      yield* TestClock.adjust(2000)
      expect(yield* breaker.state).toMatchObject({ _tag: "HalfOpen", trialsInFlight: 0, successes: 0 })
      const next = yield* hold<string, string>()
      const nextFiber = yield* Effect.fork(breaker.execute(next.effect))
      yield* Deferred.await(next.started)
      // The expired trial fails at last: the circuit does not reopen, and the live trial still decides.
      yield* Deferred.fail(slow.release, "late failure")
      expect(yield* Effect.flip(Fiber.join(slowFiber))).toBe("late failure")
      expect(yield* breaker.state).toMatchObject({ _tag: "HalfOpen", trialsInFlight: 1 })
      yield* Deferred.succeed(next.release, "ok")
      expect(yield* Fiber.join(nextFiber)).toBe("ok")
      expect(yield* stateTag(breaker)).toBe("Closed")
    })
  )

  for (const [timeout, runsFor] of [
    ["5 seconds", 5000],
    [false, 59_999]
  ] as const) {
    it.effect(`with the default TTL, a live trial keeps its permit as long as it can run (timeout: ${timeout})`, () =>
      Effect.gen(function* () {
        const breaker = yield* build(`live-trial-${timeout}`, {
          failureThreshold: 1,
          successThreshold: 2,
          resetTimeout: 1000,
          maxRetries: 0,
          timeout
        })
        yield* failTimes(breaker, 1)
        yield* TestClock.adjust(1000)
        const trial = yield* hold<string, string>()
        const fiber = yield* Effect.fork(Effect.exit(breaker.execute(trial.effect)))
        yield* Deferred.await(trial.started)
        yield* TestClock.adjust(runsFor)
        if (timeout === false) yield* Deferred.fail(trial.release, "still down")
        const exit = yield* Fiber.join(fiber)
        expect(Exit.isFailure(exit)).toBe(true)
        // The trial's failure (or timeout) counted: the circuit reopened.
        expect(yield* breaker.state).toMatchObject({ _tag: "Open", openedAt: 1000 + runsFor })
      })
    )
  }
})
