import { inspect } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"

describe("a CircuitBreaker value", () => {
  it.effect("is Pipeable", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ name: "inspect-pipe" })
      expect(breaker.pipe((b) => b.name)).toBe("inspect-pipe")
      const viaPipe = breaker.pipe(
        (b) => b.execute(Effect.succeed(21)),
        Effect.map((n) => n * 2)
      )
      expect(yield* viaPipe).toBe(42)
    })
  )

  it.effect("shows its name, last state and metrics in toJSON, toString and node's inspect; no internals", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ name: "inspect-json", failureThreshold: 1, maxRetries: 0 })
      yield* breaker.execute(Effect.succeed(1))
      yield* Effect.either(breaker.execute(Effect.fail("boom")))
      const json = breaker.toJSON() as CircuitBreaker.CircuitBreaker.Json
      expect(json._id).toBe("CircuitBreaker")
      expect(json.name).toBe("inspect-json")
      expect(json.state).toBe("Open")
      expect(json.metrics.totalCalls).toBe(2)
      expect(Object.keys(json).sort()).toEqual(["_id", "metrics", "name", "state"])
      expect(JSON.parse(JSON.stringify(breaker))).toEqual(JSON.parse(JSON.stringify(json)))
      for (const shown of [String(breaker), inspect(breaker, { depth: 0 })]) {
        expect(shown).toContain("inspect-json")
        expect(shown).not.toContain("store")
        expect(shown).not.toContain("policy")
      }
    })
  )
})
