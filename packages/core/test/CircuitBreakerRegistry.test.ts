import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, TestClock } from "effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import { CircuitBreakerConfigError } from "../src/CircuitBreakerError.js"
import * as CircuitBreakerRegistry from "../src/CircuitBreakerRegistry.js"
import * as CircuitBreakerStore from "../src/CircuitBreakerStore.js"

const { CircuitBreakerRegistry: Registry } = CircuitBreakerRegistry

/** Nothing retried, no timeout: each call is one attempt. */
const quick = { maxRetries: 0, timeout: false } as const

/** A fresh in-memory registry per test. */
const withRegistry = <A, E>(f: (registry: CircuitBreakerRegistry.Registry) => Effect.Effect<A, E>) =>
  Effect.provide(Effect.flatMap(Registry, f), CircuitBreakerRegistry.layerMemory)

/** The registry's `register` with any name and options: the tests feed it values its type forbids. */
const registerUnchecked = (registry: CircuitBreakerRegistry.Registry, name: unknown, options?: unknown) =>
  registry.register(name as string, options as CircuitBreaker.CircuitBreaker.Options)

/** The error of a registration that must fail; a success fails the test with a short message. */
const registrationError = (registry: CircuitBreakerRegistry.Registry, name: unknown, options?: unknown) =>
  Effect.matchEffect(registerUnchecked(registry, name, options), {
    onFailure: Effect.succeed,
    onSuccess: () => Effect.dieMessage("register succeeded; expected a CircuitBreakerConfigError")
  })

describe("CircuitBreakerRegistry", () => {
  describe("register / get / names / unregister", () => {
    it.effect("register builds a breaker named after its key, with the options given", () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          const breaker = yield* registry.register("payments", { failureThreshold: 2 })
          expect(CircuitBreaker.isCircuitBreaker(breaker)).toBe(true)
          expect(breaker.name).toBe("payments")
          expect(breaker.options.name).toBe("payments")
          expect(breaker.options.failureThreshold).toBe(2)
        })
      )
    )

    it.effect("get returns the registered breaker itself, None for an unknown name", () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          const breaker = yield* registry.register("a")
          expect(Option.getOrThrow(yield* registry.get("a"))).toBe(breaker)
          expect(Option.isNone(yield* registry.get("b"))).toBe(true)
        })
      )
    )

    it.effect("names lists the registered names", () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          expect(yield* registry.names).toEqual([])
          yield* registry.register("a")
          yield* registry.register("b")
          yield* registry.register("c")
          expect([...(yield* registry.names)].sort()).toEqual(["a", "b", "c"])
        })
      )
    )

    it.effect("unregister removes a breaker and reports whether there was one", () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          yield* registry.register("a")
          yield* registry.register("b")
          expect(yield* registry.unregister("a")).toBe(true)
          expect(Option.isNone(yield* registry.get("a"))).toBe(true)
          expect(yield* registry.names).toEqual(["b"])
          expect(yield* registry.unregister("a")).toBe(false)
          expect(yield* registry.unregister("never")).toBe(false)
        })
      )
    )

    it.effect("an unregistered name can be registered again", () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          const first = yield* registry.register("a")
          yield* registry.unregister("a")
          const second = yield* registry.register("a")
          expect(second).not.toBe(first)
          expect(Option.getOrThrow(yield* registry.get("a"))).toBe(second)
        })
      )
    )

    it.effect("the accessors use the registry of the context", () =>
      Effect.gen(function* () {
        const breaker = yield* CircuitBreakerRegistry.register("svc", quick)
        expect(Option.getOrThrow(yield* CircuitBreakerRegistry.get("svc"))).toBe(breaker)
        expect(yield* Effect.flip(breaker.execute(Effect.fail("boom")))).toBe("boom")
        const metrics = yield* CircuitBreakerRegistry.aggregateMetrics
        expect(Object.keys(metrics.circuits)).toEqual(["svc"])
        expect(metrics.totals.failureCalls).toBe(1)
      }).pipe(Effect.provide(CircuitBreakerRegistry.layerMemory))
    )

    it.effect("each layerMemory registry starts empty", () =>
      Effect.gen(function* () {
        yield* withRegistry((registry) => registry.register("a"))
        expect(yield* withRegistry((registry) => registry.names)).toEqual([])
      })
    )
  })

  describe("rejected registrations", () => {
    it.effect('a taken name fails with a CircuitBreakerConfigError naming "name" and keeps the first breaker', () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          const first = yield* registry.register("a", { failureThreshold: 2 })
          const error = yield* registrationError(registry, "a", { failureThreshold: 9 })
          expect(error).toBeInstanceOf(CircuitBreakerConfigError)
          expect(error.option).toBe("name")
          expect(error.value).toBe("a")
          expect(error.message).toContain('"name"')
          expect(Option.getOrThrow(yield* registry.get("a"))).toBe(first)
          expect(first.options.failureThreshold).toBe(2)
          expect(yield* registry.names).toEqual(["a"])
        })
      )
    )

    for (const [label, name] of [
      ['""', ""],
      ['"   "', "   "],
      ["5", 5],
      ["null", null],
      ["undefined", undefined],
      ["an object", {}]
    ] as const) {
      it.effect(`the name ${label} is rejected and nothing is registered`, () =>
        withRegistry((registry) =>
          Effect.gen(function* () {
            const error = yield* registrationError(registry, name)
            expect(error).toBeInstanceOf(CircuitBreakerConfigError)
            expect(error.option).toBe("name")
            expect(error.value).toBe(name)
            expect(yield* registry.names).toEqual([])
          })
        )
      )
    }

    it.effect("a name longer than 256 characters is rejected and nothing is registered", () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          const name = "n".repeat(300)
          const error = yield* registrationError(registry, name)
          expect(error.option).toBe("name")
          expect(error.value).toBe(name)
          expect(yield* registry.names).toEqual([])
        })
      )
    )

    it.effect("invalid options are rejected, naming the option, and the name stays free", () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          const error = yield* registrationError(registry, "a", { failureThreshold: 0 })
          expect(error).toBeInstanceOf(CircuitBreakerConfigError)
          expect(error.option).toBe("failureThreshold")
          expect(error.value).toBe(0)
          expect(Option.isNone(yield* registry.get("a"))).toBe(true)
          expect(yield* registry.names).toEqual([])
          const breaker = yield* registry.register("a", { failureThreshold: 1 })
          expect(breaker.options.failureThreshold).toBe(1)
        })
      )
    )

    it.effect("an unknown option is rejected and the name stays free", () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          const error = yield* registrationError(registry, "a", { failureThreshhold: 3 })
          expect(error.option).toBe("failureThreshhold")
          expect(yield* registry.names).toEqual([])
        })
      )
    )

    it.effect("concurrent registrations of one name: exactly one wins", () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          const attempts = 20
          const exits = yield* Effect.all(
            Array.from({ length: attempts }, (_, i) =>
              Effect.exit(registry.register("a", { failureThreshold: i + 1 }))
            ),
            { concurrency: "unbounded" }
          )
          const winners = exits.filter((exit) => exit._tag === "Success")
          expect(winners).toHaveLength(1)
          const losers = yield* Effect.all(
            exits.filter((exit) => exit._tag === "Failure").map((exit) => Effect.flip(exit))
          )
          expect(losers).toHaveLength(attempts - 1)
          for (const error of losers) expect(error.option).toBe("name")
          const winner = winners[0]
          expect(winner?._tag === "Success" && Option.getOrThrow(yield* registry.get("a")) === winner.value).toBe(true)
          expect(yield* registry.names).toEqual(["a"])
        })
      )
    )

    it.effect("concurrent registrations of different names all win", () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          const names = Array.from({ length: 20 }, (_, i) => `svc-${i}`)
          yield* Effect.all(
            names.map((name) => registry.register(name)),
            { concurrency: "unbounded" }
          )
          expect([...(yield* registry.names)].sort()).toEqual([...names].sort())
        })
      )
    )
  })

  describe("aggregateMetrics", () => {
    it.effect("an empty registry: no circuits, zero totals", () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          const metrics = yield* registry.aggregateMetrics
          expect(metrics.circuits).toEqual({})
          expect(metrics.openCircuits).toEqual([])
          expect(metrics.totals).toEqual({
            totalCalls: 0,
            successCalls: 0,
            failureCalls: 0,
            rejectedCalls: 0,
            timeoutCalls: 0,
            ignoredCalls: 0,
            retries: 0
          })
        })
      )
    )

    it.effect("can be read more than once, and sees breakers registered in between", () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          yield* registry.register("a")
          expect(Object.keys((yield* registry.aggregateMetrics).circuits)).toEqual(["a"])
          expect(Object.keys((yield* registry.aggregateMetrics).circuits)).toEqual(["a"])
          yield* registry.register("b")
          expect(Object.keys((yield* registry.aggregateMetrics).circuits).sort()).toEqual(["a", "b"])
        })
      )
    )

    it.effect("totals add up and openCircuits lists exactly the open circuits", () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          const healthy = yield* registry.register("healthy", quick)
          const broken = yield* registry.register("broken", { ...quick, failureThreshold: 1 })
          const flaky = yield* registry.register("flaky", { ...quick, failureThreshold: 5 })
          const tripped = yield* registry.register("tripped", quick)
          yield* registry.register("idle", quick)

          yield* healthy.execute(Effect.succeed(1))
          yield* healthy.execute(Effect.succeed(2))
          yield* Effect.flip(broken.execute(Effect.fail("boom")))
          expect((yield* Effect.flip(broken.execute(Effect.succeed(1))))._tag).toBe("CircuitOpenError")
          yield* flaky.execute(Effect.succeed(1))
          yield* Effect.flip(flaky.execute(Effect.fail("boom")))
          yield* tripped.trip

          const metrics = yield* registry.aggregateMetrics
          expect(Object.keys(metrics.circuits).sort()).toEqual(["broken", "flaky", "healthy", "idle", "tripped"])
          expect([...metrics.openCircuits].sort()).toEqual(["broken", "tripped"])
          expect(metrics.circuits.healthy).toMatchObject({ state: "Closed", totalCalls: 2, successCalls: 2 })
          expect(metrics.circuits.broken).toMatchObject({
            state: "Open",
            totalCalls: 2,
            failureCalls: 2,
            rejectedCalls: 1
          })
          expect(metrics.circuits.flaky).toMatchObject({
            state: "Closed",
            totalCalls: 2,
            successCalls: 1,
            failureCalls: 1
          })
          expect(metrics.circuits.idle).toMatchObject({ state: "Closed", totalCalls: 0 })
          expect(metrics.totals).toEqual({
            totalCalls: 6,
            successCalls: 3,
            failureCalls: 3,
            rejectedCalls: 1,
            timeoutCalls: 0,
            ignoredCalls: 0,
            retries: 0
          })
          // The totals are the sums of the circuits' own figures.
          const circuits = Object.values(metrics.circuits)
          for (const key of Object.keys(metrics.totals) as Array<keyof typeof metrics.totals>) {
            expect(metrics.totals[key]).toBe(circuits.reduce((sum, m) => sum + m[key], 0))
          }
        })
      )
    )

    it.effect("openCircuits follows the circuits: reset removes, resetTimeout half-opens", () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          const a = yield* registry.register("a", { ...quick, resetTimeout: 1000 })
          const b = yield* registry.register("b", { ...quick, resetTimeout: 1000 })
          yield* a.trip
          yield* b.trip
          expect([...(yield* registry.aggregateMetrics).openCircuits].sort()).toEqual(["a", "b"])
          yield* a.reset
          expect((yield* registry.aggregateMetrics).openCircuits).toEqual(["b"])
          yield* TestClock.adjust(1000)
          const metrics = yield* registry.aggregateMetrics
          expect(metrics.openCircuits).toEqual([])
          expect(metrics.circuits.b?.state).toBe("HalfOpen")
        })
      )
    )

    it.effect("unregistered breakers leave the aggregate", () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          const a = yield* registry.register("a", quick)
          yield* registry.register("b", quick)
          yield* a.execute(Effect.succeed(1))
          yield* a.trip
          yield* registry.unregister("a")
          const metrics = yield* registry.aggregateMetrics
          expect(Object.keys(metrics.circuits)).toEqual(["b"])
          expect(metrics.openCircuits).toEqual([])
          expect(metrics.totals.totalCalls).toBe(0)
        })
      )
    )
  })

  describe("the registry's store", () => {
    it.effect("breakers of one registry keep their state in its store", () =>
      Effect.gen(function* () {
        const store = CircuitBreakerStore.makeMemory()
        const registryLayer = CircuitBreakerRegistry.layer.pipe(
          Layer.provide(Layer.succeed(CircuitBreakerStore.CircuitBreakerStore, store))
        )
        yield* Effect.gen(function* () {
          const breaker = yield* CircuitBreakerRegistry.register("a", quick)
          expect(Option.isNone(yield* store.get("a"))).toBe(true)
          yield* breaker.trip
        }).pipe(Effect.provide(registryLayer))
        const stored = yield* store.get("a")
        expect(Option.getOrThrow(stored).state._tag).toBe("Open")
      })
    )

    it.effect("a breaker re-registered under a name sees the circuit's stored state", () =>
      withRegistry((registry) =>
        Effect.gen(function* () {
          const first = yield* registry.register("a", quick)
          yield* first.trip
          yield* registry.unregister("a")
          const second = yield* registry.register("a", quick)
          expect((yield* second.state)._tag).toBe("Open")
        })
      )
    )

    it.effect("breakers of one registry and breakers made over the same store share circuits", () =>
      Effect.gen(function* () {
        const registered = yield* CircuitBreakerRegistry.register("a", { ...quick, failureThreshold: 1 })
        const made = yield* CircuitBreaker.make({ ...quick, name: "a", failureThreshold: 1 })
        yield* Effect.flip(made.execute(Effect.fail("boom")))
        expect((yield* Effect.flip(registered.execute(Effect.succeed(1))))._tag).toBe("CircuitOpenError")
        yield* registered.reset
        expect(yield* made.execute(Effect.succeed(2))).toBe(2)
      }).pipe(Effect.provide(CircuitBreakerRegistry.layer.pipe(Layer.provideMerge(CircuitBreakerStore.layerMemory))))
    )

    it.effect("two registries over separate stores do not share circuits", () =>
      Effect.gen(function* () {
        const a = yield* withRegistry((registry) => registry.register("x", quick))
        const b = yield* withRegistry((registry) => registry.register("x", quick))
        yield* a.trip
        expect((yield* a.state)._tag).toBe("Open")
        expect((yield* b.state)._tag).toBe("Closed")
      })
    )
  })
})
