/**
 * Fences around the Effect-runtime details the executor relies on for a timeout without a
 * fork: a fiber's private `_children` set, and `FiberRef.interruptedCause`. A version of effect
 * that changes either must fail here, rather than silently fall back to forking every timed
 * attempt (or leave a caller interrupted).
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, FiberId, TestClock } from "effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import { childrenField, childrenOf, hasChildren, withdrawInterruptor } from "../src/internal/attemptTimer.js"

const currentFiber = Effect.withFiberRuntime<Fiber.RuntimeFiber<unknown, unknown>>((fiber) => Effect.succeed(fiber))

describe("Effect runtime fences", () => {
  it.effect("a fiber's `_children` is readable, and tracks the fibers it forks", () =>
    Effect.gen(function* () {
      const self = yield* currentFiber
      const before = childrenField(self)
      // null before the first fork, or a set: never missing.
      expect(before === null || before instanceof Set).toBe(true)
      const gate = yield* Deferred.make<void>()
      const child = yield* Effect.fork(Deferred.await(gate))
      const children = childrenField(self)
      assert(children instanceof Set)
      expect(children.has(child)).toBe(true)
      expect(hasChildren(self)).toBe(true)
      expect(childrenOf(self)).toContain(child)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(child)
      expect(hasChildren(self)).toBe(false)
      expect(childrenOf(self)).toBeUndefined()
    })
  )

  it.effect("withdrawing a timer's interruptor from FiberRef.interruptedCause lets the fiber go on", () =>
    Effect.gen(function* () {
      const run = (withdraw: boolean) =>
        Effect.fork(
          Effect.gen(function* () {
            yield* Effect.uninterruptible(
              Effect.gen(function* () {
                const self = yield* currentFiber
                const interruptor = FiberId.make(424242, 0)
                self.unsafeInterruptAsFork(interruptor)
                yield* Effect.yieldNow()
                if (withdraw) yield* withdrawInterruptor(interruptor)
              })
            )
            return "went on"
          })
        )
      expect(yield* Fiber.await(yield* run(true))).toStrictEqual(Exit.succeed("went on"))
      // The control: left in place, the interruption ends the fiber when the region ends.
      expect(Exit.isInterrupted(yield* Fiber.await(yield* run(false)))).toBe(true)
    })
  )

  it.effect("a timed attempt of a caller without children runs in the caller's own fiber (no fork)", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ name: "fence-no-fork", timeout: 1000, maxRetries: 0 })
      const caller = yield* Effect.fork(
        Effect.gen(function* () {
          const self = yield* Effect.fiberId
          const inside = yield* breaker.execute(Effect.fiberId)
          return { self, inside }
        })
      )
      yield* TestClock.adjust(0)
      const { inside, self } = yield* Fiber.join(caller)
      expect(inside).toStrictEqual(self)
    })
  )

  it.effect("after a timeout in the caller's fiber, the caller goes on (its interruption was withdrawn)", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ name: "fence-goes-on", timeout: 100, maxRetries: 0 })
      const caller = yield* Effect.fork(
        Effect.gen(function* () {
          const exit = yield* Effect.exit(breaker.execute(Effect.never))
          yield* Effect.yieldNow()
          return Exit.isFailure(exit) ? "timed out, and went on" : "did not time out"
        })
      )
      yield* TestClock.adjust(100)
      expect(yield* Fiber.await(caller)).toStrictEqual(Exit.succeed("timed out, and went on"))
    })
  )
})
