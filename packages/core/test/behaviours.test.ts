/**
 * The behaviours of issue 10 in the Effect API: isFailure's "ignore", a bad answer of it, a
 * call cancelled while its effect fails, outcome events with latency, isolation, the reset
 * event, whole milliseconds, names and maxConcurrentTrials.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Duration, Effect, Exit, Fiber, Ref, Stream, TestClock } from "effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import { CircuitBreakerConfigError, CircuitOpenError } from "../src/CircuitBreakerError.js"

const PREFIX = "cb-behaviours-"
const build = (name: string, options: CircuitBreaker.CircuitBreaker.Options = {}) =>
  CircuitBreaker.make({ jitter: false, ...options, name: `${PREFIX}${name}` })

const isFailure = (e: { readonly status: number }) => (e.status === 404 ? "ignore" : e.status >= 500)

describe("isFailure", () => {
  it.effect('"ignore": never retried, an Ignored event, ignoredCalls, no lastFailures, the tally unchanged', () =>
    Effect.gen(function* () {
      const breaker = yield* build("ignore", { isFailure, failureThreshold: 2, maxRetries: 2, retryDelay: 0 })
      const attempts = yield* Ref.make(0)
      const collector = yield* Effect.fork(breaker.events.pipe(Stream.take(4), Stream.runCollect))
      yield* TestClock.adjust(0)
      const failing = (status: number) =>
        Effect.zipRight(
          Ref.update(attempts, (n) => n + 1),
          Effect.fail({ status })
        )
      // The ignored error: one attempt, whatever maxRetries says.
      expect(yield* Effect.flip(breaker.execute(failing(404)))).toStrictEqual({ status: 404 })
      expect(yield* Ref.get(attempts)).toBe(1)
      // A failure: retried, and its second attempt trips the circuit, which ends the call.
      expect(yield* Effect.flip(breaker.execute(failing(500)))).toStrictEqual({ status: 500 })
      expect(yield* Ref.get(attempts)).toBe(3)
      const events = Chunk.toReadonlyArray(yield* Fiber.join(collector))
      expect(events.map((e) => e._tag)).toStrictEqual(["Ignored", "Failure", "Retry", "Failure"])
      expect(events[0]).toMatchObject({ _tag: "Ignored", latency: 0, error: { status: 404 } })
      const metrics = yield* breaker.metrics
      expect(metrics).toMatchObject({ ignoredCalls: 1, failureCalls: 1, successCalls: 0, totalCalls: 2 })
      expect(metrics.lastFailures.map((f) => f.error)).toStrictEqual([{ status: 500 }, { status: 500 }])
    })
  )

  it.effect('an ignored error between failures leaves the tally: "fail, ignore, fail" trips a threshold of 2', () =>
    Effect.gen(function* () {
      const breaker = yield* build("ignore-tally", { isFailure, failureThreshold: 2, maxRetries: 0 })
      yield* Effect.exit(breaker.execute(Effect.fail({ status: 500 })))
      yield* Effect.exit(breaker.execute(Effect.fail({ status: 404 })))
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 1 })
      yield* Effect.exit(breaker.execute(Effect.fail({ status: 500 })))
      expect((yield* breaker.state)._tag).toBe("Open")
    })
  )

  it.effect("an answer neither boolean nor 'ignore' dies with a config error naming isFailure; nothing counted", () =>
    Effect.gen(function* () {
      const breaker = yield* build("bad-answer", { isFailure: () => 1 as never, failureThreshold: 1, maxRetries: 2 })
      const exit = yield* Effect.exit(breaker.execute(Effect.fail("x")))
      assert(Exit.isFailure(exit))
      const defect = Cause.squash(exit.cause)
      assert(defect instanceof CircuitBreakerConfigError)
      expect(defect.option).toBe("isFailure")
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 0 })
      expect(yield* breaker.metrics).toMatchObject({ totalCalls: 0, lastFailures: [] })
    })
  )
})

describe("a cancelled call", () => {
  it.effect("counts neither way when its effect fails as it is interrupted (an uninterruptible part)", () =>
    Effect.gen(function* () {
      const breaker = yield* build("cancelled", { failureThreshold: 1, maxRetries: 0, timeout: false })
      const effect = Effect.uninterruptible(Effect.zipRight(Effect.sleep(10), Effect.fail("failed while cancelled")))
      const fiber = yield* Effect.fork(breaker.execute(effect))
      yield* TestClock.adjust(1)
      const interruption = yield* Effect.fork(Fiber.interrupt(fiber))
      yield* TestClock.adjust(10)
      yield* Fiber.join(interruption)
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 0 })
      expect(yield* breaker.metrics).toMatchObject({ failureCalls: 0, lastFailures: [] })
    })
  )
})

describe("isolate, trip and reset", () => {
  it.effect("isolations stack and outlast resetTimeout; released twice counts once; the last release closes", () =>
    Effect.gen(function* () {
      const breaker = yield* build("isolate", { resetTimeout: 100 })
      const first = yield* breaker.isolate
      const second = yield* breaker.isolate
      expect(first.generation).toBe(second.generation)
      yield* TestClock.adjust(60_000)
      const rejected = yield* Effect.flip(breaker.execute(Effect.succeed(1)))
      expect(rejected).toBeInstanceOf(CircuitOpenError)
      yield* first.release
      yield* first.release
      expect((yield* breaker.state)._tag).toBe("Open")
      yield* second.release
      expect((yield* breaker.state)._tag).toBe("Closed")
      expect(yield* breaker.execute(Effect.succeed(2))).toBe(2)
    })
  )

  it.effect("reset publishes a change every time, from Closed to Closed included", () =>
    Effect.gen(function* () {
      const breaker = yield* build("reset-event")
      const collector = yield* Effect.fork(breaker.changes.pipe(Stream.take(2), Stream.runCollect))
      yield* TestClock.adjust(0)
      yield* breaker.reset
      yield* breaker.reset
      const changes = Chunk.toReadonlyArray(yield* Fiber.join(collector))
      expect(changes).toMatchObject([
        { from: "Closed", to: "Closed", reason: "reset" },
        { from: "Closed", to: "Closed", reason: "reset" }
      ])
    })
  )
})

describe("the details", () => {
  it.effect("CircuitOpenError carries whole milliseconds, in retryAfter and in its message", () =>
    Effect.gen(function* () {
      const breaker = yield* build("whole-ms", { failureThreshold: 1, maxRetries: 0, resetTimeout: 1000 })
      yield* Effect.exit(breaker.execute(Effect.fail("down")))
      yield* TestClock.adjust(Duration.micros(8300n))
      const error = yield* Effect.flip(breaker.execute(Effect.succeed(1)))
      assert(error instanceof CircuitOpenError)
      expect(Duration.toMillis(error.retryAfter)).toBe(992)
      expect(error.message).toBe(`Circuit "${PREFIX}whole-ms" is open; retry after 992 ms`)
    })
  )

  it.effect("an unnamed breaker gets a distinct name; distributedTracking without a name is an error naming name", () =>
    Effect.gen(function* () {
      const a = yield* CircuitBreaker.make()
      const b = yield* CircuitBreaker.make()
      expect(a.name).not.toBe(b.name)
      const error = yield* Effect.flip(CircuitBreaker.make({ distributedTracking: true }))
      expect(error.option).toBe("name")
    })
  )

  it.effect("maxConcurrentTrials: 0 is an error naming it; the default lets one trial run at a time", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(CircuitBreaker.make({ maxConcurrentTrials: 0 }))
      expect(error.option).toBe("maxConcurrentTrials")
      const breaker = yield* build("one-probe", { failureThreshold: 1, maxRetries: 0, resetTimeout: 100 })
      expect(breaker.options.maxConcurrentTrials).toBe(1)
      yield* Effect.exit(breaker.execute(Effect.fail("down")))
      yield* TestClock.adjust(100)
      const probe = yield* Effect.fork(breaker.execute(Effect.as(Effect.sleep(50), "probe")))
      yield* TestClock.adjust(1)
      expect(yield* Effect.flip(breaker.execute(Effect.succeed("second")))).toBeInstanceOf(CircuitOpenError)
      yield* TestClock.adjust(50)
      expect(yield* Fiber.join(probe)).toBe("probe")
    })
  )
})
