import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, FastCheck, Fiber, TestClock } from "effect"
import * as Bulkhead from "../src/Bulkhead.js"
import { BulkheadRejectedError, isCircuitBreakerError } from "../src/CircuitBreakerError.js"

/** A call that runs until `release` is completed, counting that it started. */
const blocked = (started: { count: number }, release: Deferred.Deferred<void>) =>
  Effect.suspend(() => {
    started.count++
    return Deferred.await(release)
  })

/** Lets the forked fibers run up to their next suspension. */
const settle = Effect.yieldNow().pipe(Effect.repeatN(20))

const rejection = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error instanceof BulkheadRejectedError
    ? exit.cause.error
    : undefined

describe("Bulkhead (Effect)", () => {
  it.effect("runs maxConcurrent calls at once and turns the next away at once, without running it", () =>
    Effect.gen(function* () {
      const bulkhead = yield* Bulkhead.make({ name: "svc", maxConcurrent: 2 })
      const release = yield* Deferred.make<void>()
      const started = { count: 0 }
      const running = yield* Effect.fork(
        Effect.all(
          [1, 2].map(() => bulkhead.run(blocked(started, release))),
          { concurrency: "unbounded" }
        )
      )
      yield* settle
      const third = yield* Effect.exit(bulkhead.run(blocked(started, release)))
      const error = rejection(third)
      expect(error?.reason).toBe("Full")
      expect(error?.circuit).toBe("svc")
      expect(error?._tag).toBe("BulkheadRejectedError")
      expect(isCircuitBreakerError(error)).toBe(true)
      expect(started.count).toBe(2)
      expect(bulkhead.stats()).toEqual({ running: 2, queued: 0, rejections: 1 })
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(running)
      expect(bulkhead.stats()).toEqual({ running: 0, queued: 0, rejections: 1 })
    })
  )

  it.effect("queues up to maxQueue calls, in order, and runs each when a slot frees up", () =>
    Effect.gen(function* () {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1, maxQueue: 2 })
      const gates = yield* Effect.all([1, 2, 3].map(() => Deferred.make<void>()))
      const order: Array<number> = []
      const call = (i: number) =>
        bulkhead.run(
          Effect.zipRight(
            Effect.sync(() => order.push(i)),
            Deferred.await(gates[i]!)
          )
        )
      const fibers = yield* Effect.forEach([0, 1, 2], (i) => Effect.fork(call(i)))
      yield* settle
      expect(bulkhead.stats()).toEqual({ running: 1, queued: 2, rejections: 0 })
      expect(rejection(yield* Effect.exit(call(0)))?.reason).toBe("Full")
      yield* Deferred.succeed(gates[0]!, undefined)
      yield* settle
      expect(order).toEqual([0, 1])
      yield* Deferred.succeed(gates[1]!, undefined)
      yield* Deferred.succeed(gates[2]!, undefined)
      yield* Fiber.joinAll(fibers)
      expect(order).toEqual([0, 1, 2])
      expect(bulkhead.stats()).toEqual({ running: 0, queued: 0, rejections: 1 })
    })
  )

  it.effect("a call that waits longer than queueTimeout fails with QueueTimeout and leaves the queue", () =>
    Effect.gen(function* () {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1, maxQueue: 1, queueTimeout: "1 second" })
      const release = yield* Deferred.make<void>()
      const started = { count: 0 }
      const first = yield* Effect.fork(bulkhead.run(blocked(started, release)))
      const waiting = yield* Effect.fork(bulkhead.run(blocked(started, release)))
      yield* settle
      yield* TestClock.adjust("999 millis")
      expect(bulkhead.stats().queued).toBe(1)
      yield* TestClock.adjust("1 millis")
      const exit = yield* Fiber.await(waiting)
      expect(rejection(exit)?.reason).toBe("QueueTimeout")
      expect(bulkhead.stats()).toEqual({ running: 1, queued: 0, rejections: 1 })
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(first)
      expect(started.count).toBe(1)
      expect(bulkhead.stats().running).toBe(0)
    })
  )

  it.effect("an interrupted waiter leaves the queue and frees nothing it did not hold", () =>
    Effect.gen(function* () {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1, maxQueue: 2 })
      const release = yield* Deferred.make<void>()
      const started = { count: 0 }
      const first = yield* Effect.fork(bulkhead.run(blocked(started, release)))
      const waiter = yield* Effect.fork(bulkhead.run(blocked(started, release)))
      const next = yield* Effect.fork(bulkhead.run(Effect.sync(() => "next")))
      yield* settle
      yield* Fiber.interrupt(waiter)
      expect(bulkhead.stats()).toEqual({ running: 1, queued: 1, rejections: 0 })
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(first)
      expect(yield* Fiber.join(next)).toBe("next")
      expect(started.count).toBe(1)
      expect(bulkhead.stats()).toEqual({ running: 0, queued: 0, rejections: 0 })
    })
  )

  it.effect("an interrupted or failing call gives its slot back", () =>
    Effect.gen(function* () {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1 })
      const running = yield* Effect.fork(bulkhead.run(Effect.never))
      yield* settle
      expect(bulkhead.stats().running).toBe(1)
      yield* Fiber.interrupt(running)
      expect(bulkhead.stats().running).toBe(0)
      const failed = yield* Effect.exit(bulkhead.run(Effect.fail("boom")))
      expect(failed).toEqual(Exit.fail("boom"))
      yield* Effect.exit(bulkhead.run(Effect.die("defect")))
      expect(bulkhead.stats()).toEqual({ running: 0, queued: 0, rejections: 0 })
    })
  )
})

describe("BulkheadSlots", () => {
  it("a waiter handed a slot as it gives up passes the slot on, to the next waiter or back", () => {
    const slots = new Bulkhead.BulkheadSlots(1, 2)
    const grants: Array<string> = []
    const a: Bulkhead.Waiter = { granted: false, grant: () => grants.push("a") }
    const b: Bulkhead.Waiter = { granted: false, grant: () => grants.push("b") }
    expect(slots.tryAcquire()).toBe(true)
    slots.enqueue(a)
    slots.enqueue(b)
    slots.release()
    // `a` was handed the slot, but its caller gave up at the same time: `b` gets it.
    slots.leave(a)
    expect(grants).toEqual(["a", "b"])
    expect([slots.running, slots.queued]).toEqual([1, 0])
    slots.leave(b)
    expect([slots.running, slots.queued]).toEqual([0, 0])
    slots.leave(b)
    expect([slots.running, slots.queued]).toEqual([0, 0])
  })

  type Op =
    | { readonly _tag: "Arrive" }
    | { readonly _tag: "Finish"; readonly pick: number }
    | { readonly _tag: "GiveUp"; readonly pick: number }

  const op: FastCheck.Arbitrary<Op> = FastCheck.oneof(
    FastCheck.constant({ _tag: "Arrive" } as const),
    FastCheck.record({ _tag: FastCheck.constant("Finish" as const), pick: FastCheck.nat() }),
    FastCheck.record({ _tag: FastCheck.constant("GiveUp" as const), pick: FastCheck.nat() })
  )

  it.prop(
    "running is the number of calls holding a slot, never above maxConcurrent; the queue is FIFO and bounded",
    {
      maxConcurrent: FastCheck.integer({ min: 1, max: 4 }),
      maxQueue: FastCheck.integer({ min: 0, max: 4 }),
      ops: FastCheck.array(op, { maxLength: 60 })
    },
    ({ maxConcurrent, maxQueue, ops }) => {
      const slots = new Bulkhead.BulkheadSlots(maxConcurrent, maxQueue)
      const holding: Array<number> = []
      let waiting: Array<{ id: number; waiter: Bulkhead.Waiter }> = []
      let id = 0
      for (const o of ops) {
        if (o._tag === "Arrive") {
          const me = id++
          if (slots.tryAcquire()) holding.push(me)
          else if (slots.hasRoom()) {
            const waiter: Bulkhead.Waiter = {
              granted: false,
              grant: () => {
                expect(waiting[0]?.id).toBe(me)
                waiting = waiting.slice(1)
                holding.push(me)
              }
            }
            waiting.push({ id: me, waiter })
            slots.enqueue(waiter)
          }
        } else if (o._tag === "Finish" && holding.length > 0) {
          holding.splice(o.pick % holding.length, 1)
          slots.release()
        } else if (o._tag === "GiveUp" && waiting.length > 0) {
          const [gone] = waiting.splice(o.pick % waiting.length, 1)
          slots.leave(gone!.waiter)
        }
        expect(slots.running).toBe(holding.length)
        expect(slots.queued).toBe(waiting.length)
        expect(slots.running).toBeLessThanOrEqual(maxConcurrent)
        expect(slots.queued).toBeLessThanOrEqual(maxQueue)
        // Nobody waits while a slot is free.
        if (slots.queued > 0) expect(slots.running).toBe(maxConcurrent)
      }
    }
  )
})

describe("Bulkhead options", () => {
  it.effect("a bad option fails make with a CircuitBreakerConfigError naming it", () =>
    Effect.gen(function* () {
      for (const [options, option] of [
        [{ maxConcurrent: 0 }, "maxConcurrent"],
        [{ maxConcurrent: 1.5 }, "maxConcurrent"],
        [{ maxConcurrent: 2, maxQueue: -1 }, "maxQueue"],
        [{ maxConcurrent: 2, queueTimeout: -5 }, "queueTimeout"],
        [{} as Bulkhead.Options, "maxConcurrent"]
      ] as const) {
        const error = yield* Effect.flip(Bulkhead.make(options))
        expect(error._tag).toBe("CircuitBreakerConfigError")
        expect(error.option).toBe(option)
      }
      expect(() => Bulkhead.unsafeMake({ maxConcurrent: 0 })).toThrow(/maxConcurrent/)
    })
  )
})
