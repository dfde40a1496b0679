import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Metric, TestClock } from "effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import { BulkheadRejectedError, CircuitOpenError } from "../src/CircuitBreakerError.js"
import * as CircuitBreakerMetrics from "../src/CircuitBreakerMetrics.js"

/** Effect metrics live in one global registry: every circuit of this file has its own name. */
const build = (name: string, options: CircuitBreaker.CircuitBreaker.Options = {}) =>
  CircuitBreaker.make({ jitter: false, maxRetries: 0, ...options, name: `cb-policies-${name}` })

const fail = Effect.fail("boom")

describe("CircuitBreaker (Effect) with the policies of issue 11", () => {
  it.effect("a failure-rate window trips on its rate, and a success can complete the minimum", () =>
    Effect.gen(function* () {
      const breaker = yield* build("window", {
        failureRateThreshold: 50,
        slidingWindowSize: 4,
        minimumNumberOfCalls: 4
      })
      for (const effect of [fail, fail, fail]) yield* Effect.exit(breaker.execute(effect))
      expect((yield* breaker.state)._tag).toBe("Closed")
      expect((yield* breaker.metrics).failureRate).toBe(-1)
      yield* breaker.execute(Effect.succeed(1))
      expect((yield* breaker.state)._tag).toBe("Open")
    })
  )

  it.effect("slow calls, timed on the breaker's clock, trip the circuit and are counted", () =>
    Effect.gen(function* () {
      const breaker = yield* build("slow", {
        slowCallDurationThreshold: "100 millis",
        slowCallRateThreshold: 100,
        slidingWindowSize: 2,
        minimumNumberOfCalls: 2,
        timeout: false
      })
      for (let i = 0; i < 2; i++) {
        const fiber = yield* Effect.fork(breaker.execute(Effect.sleep("150 millis")))
        yield* TestClock.adjust("150 millis")
        yield* Fiber.join(fiber)
      }
      expect((yield* breaker.state)._tag).toBe("Open")
      const metrics = yield* breaker.metrics
      expect(metrics.slowCalls).toBe(2)
      const slow = Metric.tagged(CircuitBreakerMetrics.effectMetrics.slowCalls, "circuit", "cb-policies-slow")
      expect((yield* Metric.value(slow)).count).toBe(2)
    })
  )

  it.effect("isResultFailure counts a value as a failure; the effect still succeeds with it", () =>
    Effect.gen(function* () {
      const breaker = yield* build("result", { isResultFailure: (n: number) => n >= 500, failureThreshold: 2 })
      expect(yield* breaker.execute(Effect.succeed(503))).toBe(503)
      expect(yield* breaker.execute(Effect.succeed(503))).toBe(503)
      expect((yield* breaker.state)._tag).toBe("Open")
    })
  )

  it.effect(
    "the bulkhead turns a call away with BulkheadRejectedError, which catchTag handles, and the circuit stays closed",
    () =>
      Effect.gen(function* () {
        const breaker = yield* build("bulkhead", { maxConcurrent: 1, failureThreshold: 1 })
        const gate = yield* Deferred.make<void>()
        const first = yield* Effect.fork(breaker.execute(Deferred.await(gate)))
        yield* TestClock.adjust(0)
        const second = yield* breaker
          .execute(Effect.succeed("ran"))
          .pipe(Effect.catchTag("BulkheadRejectedError", (e) => Effect.succeed(e)))
        expect(second).toBeInstanceOf(BulkheadRejectedError)
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(first)
        expect((yield* breaker.state)._tag).toBe("Closed")
        expect(yield* breaker.metrics).toMatchObject({ bulkheadRejections: 1, failureCalls: 0, totalCalls: 1 })
      })
  )

  it.effect("setMode: forcedOpen rejects, forcedClosed never trips, an unknown mode is a config error", () =>
    Effect.gen(function* () {
      const breaker = yield* build("modes", { failureThreshold: 1 })
      yield* breaker.setMode("forcedOpen")
      expect(yield* breaker.mode).toBe("forcedOpen")
      expect(yield* Effect.flip(breaker.execute(Effect.succeed(1)))).toBeInstanceOf(CircuitOpenError)
      yield* breaker.setMode("forcedClosed")
      for (let i = 0; i < 3; i++) yield* Effect.exit(breaker.execute(fail))
      expect((yield* breaker.state)._tag).toBe("Closed")
      expect((yield* breaker.metrics).mode).toBe("forcedClosed")
      const error = yield* Effect.flip(breaker.setMode("paused" as never))
      expect(error.option).toBe("mode")
    })
  )

  it.effect("maxWaitInHalfOpen: a Half-Open circuit whose trial does not finish in time opens again", () =>
    Effect.gen(function* () {
      const breaker = yield* build("max-wait", {
        failureThreshold: 1,
        successThreshold: 1,
        resetTimeout: "1 second",
        maxWaitInHalfOpen: "500 millis",
        timeout: false
      })
      yield* Effect.exit(breaker.execute(fail))
      yield* TestClock.adjust("1 second")
      const started = yield* Deferred.make<void>()
      const trial = yield* Effect.fork(
        breaker.execute(Effect.zipRight(Deferred.succeed(started, undefined), Effect.never))
      )
      yield* Deferred.await(started)
      expect((yield* breaker.state)._tag).toBe("HalfOpen")
      yield* TestClock.adjust("499 millis")
      expect((yield* breaker.state)._tag).toBe("HalfOpen")
      yield* TestClock.adjust("1 millis")
      expect((yield* breaker.state)._tag).toBe("Open")
      const rejected = yield* Effect.flip(breaker.execute(Effect.succeed(1)))
      expect(rejected).toBeInstanceOf(CircuitOpenError)
      // The trial that outlived its wait ends late: its outcome belongs to the past Half-Open period.
      yield* Fiber.interrupt(trial)
      expect((yield* breaker.state)._tag).toBe("Open")
      // A full open period later the circuit half-opens again, and a trial that finishes closes it.
      yield* TestClock.adjust("1 second")
      expect(yield* breaker.execute(Effect.succeed(2))).toBe(2)
      expect((yield* breaker.state)._tag).toBe("Closed")
    })
  )

  it.effect("the mode gauge: 1 for the circuit's mode, 0 for the modes it left", () =>
    Effect.gen(function* () {
      const breaker = yield* build("mode-gauge")
      const gauge = (mode: string) =>
        Effect.map(
          Metric.value(
            Metric.tagged(
              Metric.tagged(CircuitBreakerMetrics.effectMetrics.mode, "circuit", "cb-policies-mode-gauge"),
              "mode",
              mode
            )
          ),
          (state) => state.value
        )
      yield* breaker.setMode("forcedOpen")
      expect([yield* gauge("normal"), yield* gauge("forcedOpen")]).toEqual([0, 1])
      yield* breaker.setMode("metricsOnly")
      expect([yield* gauge("forcedOpen"), yield* gauge("metricsOnly")]).toEqual([0, 1])
      yield* breaker.reset
      expect([yield* gauge("metricsOnly"), yield* gauge("normal")]).toEqual([0, 1])
    })
  )

  it.effect("openBackoff: the next open period after a failed trial is longer", () =>
    Effect.gen(function* () {
      const breaker = yield* build("backoff", {
        failureThreshold: 1,
        resetTimeout: "1 second",
        openBackoff: { multiplier: 3, maxResetTimeout: "1 minute" }
      })
      yield* Effect.exit(breaker.execute(fail))
      yield* TestClock.adjust("1 second")
      yield* Effect.exit(breaker.execute(fail))
      yield* TestClock.adjust("2999 millis")
      expect((yield* breaker.state)._tag).toBe("Open")
      yield* TestClock.adjust("1 millis")
      expect((yield* breaker.state)._tag).toBe("HalfOpen")
    })
  )
})
