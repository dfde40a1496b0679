import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as CircuitBreakerStore from "../src/CircuitBreakerStore.js"
import { storeSuite } from "./storeSuite.js"

storeSuite("memory", CircuitBreakerStore.layerMemory)

describe("memory store specifics", () => {
  it("is not shared", () => {
    expect(CircuitBreakerStore.makeMemory().shared).toBe(false)
  })

  it.effect("two memory stores are independent", () =>
    Effect.gen(function* () {
      const a = CircuitBreakerStore.makeMemory()
      const b = CircuitBreakerStore.makeMemory()
      const state = { _tag: "Closed", generation: 0, since: 0, tally: 1 } as const
      expect(yield* a.compareAndSet("k", 0, state)).toBe(true)
      expect(Option.isNone(yield* b.get("k"))).toBe(true)
    })
  )

  it.effect("spreads into a wrapping store: every function is its own property and works detached", () =>
    Effect.gen(function* () {
      const writes: Array<string> = []
      const base = CircuitBreakerStore.makeMemory()
      const wrapped: CircuitBreakerStore.Store = {
        ...base,
        compareAndSet: (key, expected, next) => {
          writes.push(key)
          return base.compareAndSet(key, expected, next)
        }
      }
      for (const key of ["get", "compareAndSet", "modify", "delete", "unsafeModify"] as const) {
        expect(typeof wrapped[key]).toBe("function")
      }
      const state = { _tag: "Closed", generation: 0, since: 0, tally: 2 } as const
      expect(yield* wrapped.compareAndSet("k", 0, state)).toBe(true)
      expect(writes).toStrictEqual(["k"])
      expect(Option.map(yield* wrapped.get("k"), (v) => v.version)).toStrictEqual(Option.some(1))
      const breaker = yield* CircuitBreaker.make({ name: "k" }).pipe(
        Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, wrapped)
      )
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed", tally: 2 })
    })
  )

  it.effect("distributedTracking is refused over the memory store", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        CircuitBreaker.make({ name: "d", distributedTracking: true }).pipe(
          Effect.provide(CircuitBreakerStore.layerMemory)
        )
      )
      expect(error.option).toBe("distributedTracking")
    })
  )
})
