import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock, Exit } from "effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"

describe("smoke", () => {
  it.effect("trips, rejects, half-opens, closes", () =>
    Effect.gen(function* () {
      const b = yield* CircuitBreaker.make({ name: "x", failureThreshold: 2, maxRetries: 0, successThreshold: 1 })
      const fail = Effect.fail("boom")
      expect(yield* Effect.exit(b.execute(fail))).toStrictEqual(Exit.fail("boom"))
      yield* Effect.exit(b.execute(fail))
      expect((yield* b.state)._tag).toBe("Open")
      const r = yield* Effect.flip(b.execute(Effect.succeed(1)))
      expect(r._tag).toBe("CircuitOpenError")
      yield* TestClock.adjust("30 seconds")
      expect((yield* b.state)._tag).toBe("HalfOpen")
      expect(yield* b.execute(Effect.succeed(1))).toBe(1)
      expect((yield* b.state)._tag).toBe("Closed")
      const m = yield* b.metrics
      expect(m.totalCalls).toBe(4)
    }))
  it.effect("times out", () =>
    Effect.gen(function* () {
      const b = yield* CircuitBreaker.make({ name: "y", timeout: 100, maxRetries: 0 })
      const fiber = yield* Effect.fork(Effect.flip(b.execute(Effect.never)))
      yield* TestClock.adjust(100)
      const e = yield* fiber.await
      expect(Exit.isSuccess(e) && (e.value as any)._tag).toBe("CircuitTimeoutError")
    }))
})
