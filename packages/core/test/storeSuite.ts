/**
 * A reusable behavioural suite for `CircuitBreakerStore` backends. It tests only through the public `Store`
 * interface and `CircuitBreaker.make` with the store provided, so every backend (memory, Redis, ...) runs the very
 * same checks:
 *
 * ```ts
 * storeSuite("memory", CircuitBreakerStore.layerMemory)
 * ```
 *
 * The layer is built once and shared by every test of the block, so each test works on keys (and circuit names) of
 * its own. Concurrency is kept to at most 16 writers per key, so that a backend whose `modify` is a
 * compare-and-set loop (at most 16 attempts by default) cannot run out of attempts.
 */
import { randomUUID } from "node:crypto"
import { describe, expect, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, TestClock } from "effect"
import type * as Layer from "effect/Layer"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import { CircuitOpenError, CircuitStoreError } from "../src/CircuitBreakerError.js"
import type { CircuitState } from "../src/CircuitBreakerState.js"
import * as CircuitBreakerStore from "../src/CircuitBreakerStore.js"

type State = CircuitState<unknown>

/** Concurrent writers per key; see the module comment. */
const WRITERS = 16

const closed = (tally: number, generation = 0, since = 0): State => ({ _tag: "Closed", generation, since, tally })

const open = (generation: number, openedAt: number, retryAt: number): State => ({
  _tag: "Open",
  generation,
  since: openedAt,
  openedAt,
  retryAt
})

const halfOpen = (
  generation: number,
  since: number,
  trialsInFlight: number,
  successes: number,
  permitsExpireAt: number
): State => ({
  _tag: "HalfOpen",
  generation,
  since,
  trialsInFlight,
  successes,
  permitsExpireAt
})

const tallyOf = (state: State): number => {
  if (state._tag !== "Closed" || typeof state.tally !== "number") throw new Error(`not a counter: ${state._tag}`)
  return state.tally
}

/** A function for `modify`: adds one to the Closed tally, and returns the new count. */
const increment = (state: State): readonly [number, State] => {
  const next = tallyOf(state) + 1
  return [next, closed(next, state.generation, state.since)]
}

const range = (from: number, to: number): Array<number> => Array.from({ length: to - from + 1 }, (_, i) => from + i)

const sorted = (values: ReadonlyArray<number>): Array<number> => [...values].sort((a, b) => a - b)

const versionOf = (current: Option.Option<CircuitBreakerStore.Versioned>): number =>
  Option.isSome(current) ? current.value.version : 0

/** Breakers over the store of the context: a shared circuit, nothing retried, no timeout to interfere. */
const breakerOptions = (name: string, extra: CircuitBreaker.CircuitBreaker.Options = {}) =>
  CircuitBreaker.make({ name, maxRetries: 0, timeout: false, resetTimeout: 1000, ...extra })

const fail = Effect.fail("boom")

/** Runs `make`'s breaker and fails the test with a short message, should `make` fail. */
const makeBreaker = (name: string, extra?: CircuitBreaker.CircuitBreaker.Options) =>
  Effect.orDieWith(breakerOptions(name, extra), (e) => new Error(e.message))

export const storeSuite = (
  name: string,
  storeLayer: Layer.Layer<CircuitBreakerStore.CircuitBreakerStore, unknown>
): void => {
  /** A key no other test (nor an earlier run against a persistent backend) uses. */
  const freshKey = (label: string): string => `store-suite:${label}:${randomUUID()}`

  layer(storeLayer)(name, (it) => {
    describe("get", () => {
      it.effect("an absent key is None", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          expect(Option.isNone(yield* store.get(freshKey("absent")))).toBe(true)
        })
      )

      it.effect("keys are independent", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const a = freshKey("a")
          const b = freshKey("b")
          expect(yield* store.compareAndSet(a, 0, closed(1))).toBe(true)
          expect(Option.isNone(yield* store.get(b))).toBe(true)
          expect(yield* store.compareAndSet(b, 0, closed(2))).toBe(true)
          expect(Option.getOrThrow(yield* store.get(a))).toStrictEqual({ state: closed(1), version: 1 })
          expect(Option.getOrThrow(yield* store.get(b))).toStrictEqual({ state: closed(2), version: 1 })
        })
      )
    })

    describe("compareAndSet", () => {
      it.effect("expected version 0 creates the state at version 1", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const key = freshKey("create")
          expect(yield* store.compareAndSet(key, 0, closed(3))).toBe(true)
          expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({ state: closed(3), version: 1 })
        })
      )

      it.effect("every kind of state round-trips unchanged", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const states: ReadonlyArray<State> = [
            closed(4, 7, 1234),
            open(8, 2000, 32_000),
            halfOpen(9, 32_000, 2, 1, 43_000)
          ]
          for (const state of states) {
            const key = freshKey(state._tag)
            expect(yield* store.compareAndSet(key, 0, state)).toBe(true)
            expect(Option.getOrThrow(yield* store.get(key)).state).toStrictEqual(state)
          }
        })
      )

      it.effect("expected version 0 on an existing key fails and changes nothing", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const key = freshKey("exists")
          expect(yield* store.compareAndSet(key, 0, closed(1))).toBe(true)
          expect(yield* store.compareAndSet(key, 0, closed(99))).toBe(false)
          expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({ state: closed(1), version: 1 })
        })
      )

      it.effect("a stale or future version fails and changes nothing", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const key = freshKey("stale")
          expect(yield* store.compareAndSet(key, 0, closed(1))).toBe(true)
          expect(yield* store.compareAndSet(key, 1, closed(2))).toBe(true)
          expect(yield* store.compareAndSet(key, 1, closed(99))).toBe(false)
          expect(yield* store.compareAndSet(key, 3, closed(99))).toBe(false)
          expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({ state: closed(2), version: 2 })
        })
      )

      it.effect("a version other than 0 on an absent key fails and creates nothing", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const key = freshKey("absent-cas")
          expect(yield* store.compareAndSet(key, 1, closed(1))).toBe(false)
          expect(Option.isNone(yield* store.get(key))).toBe(true)
        })
      )

      it.effect("versions grow by exactly one per successful write", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const key = freshKey("versions")
          for (let version = 0; version < 6; version++) {
            expect(yield* store.compareAndSet(key, version, closed(version * 10))).toBe(true)
            expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({
              state: closed(version * 10),
              version: version + 1
            })
          }
        })
      )

      it.effect("of concurrent writers expecting the same version, exactly one wins", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const key = freshKey("race")
          expect(yield* store.compareAndSet(key, 0, closed(0))).toBe(true)
          const won = yield* Effect.all(
            range(1, WRITERS).map((i) => store.compareAndSet(key, 1, closed(i))),
            { concurrency: "unbounded" }
          )
          expect(won.filter((w) => w)).toHaveLength(1)
          const stored = Option.getOrThrow(yield* store.get(key))
          expect(stored.version).toBe(2)
          expect(tallyOf(stored.state)).toBe(won.indexOf(true) + 1)
        })
      )
    })

    describe("modify", () => {
      it.effect("on an absent key, applies the function to the initial state and returns its result", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const key = freshKey("modify-absent")
          const seen: Array<State> = []
          const result = yield* store.modify(key, closed(0, 0, 5), (s) => {
            seen.push(s)
            return ["created", open(1, 10, 1010)] as const
          })
          expect(result).toBe("created")
          expect(seen.length).toBeGreaterThan(0)
          for (const s of seen) expect(s).toStrictEqual(closed(0, 0, 5))
          expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({ state: open(1, 10, 1010), version: 1 })
        })
      )

      it.effect("applies the function to the stored state, not the initial one", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const key = freshKey("modify-existing")
          expect(yield* store.compareAndSet(key, 0, closed(41))).toBe(true)
          const result = yield* store.modify(key, closed(0), increment)
          expect(result).toBe(42)
          expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({ state: closed(42), version: 2 })
        })
      )

      it.effect("successive modifies see each other's writes, one version each", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const key = freshKey("modify-successive")
          const results: Array<number> = []
          for (let i = 0; i < 5; i++) results.push(yield* store.modify(key, closed(0), increment))
          expect(results).toEqual([1, 2, 3, 4, 5])
          expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({ state: closed(5), version: 5 })
        })
      )

      it.effect("a modify after compareAndSet bumps the version by one", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const key = freshKey("modify-after-cas")
          expect(yield* store.compareAndSet(key, 0, closed(0))).toBe(true)
          expect(yield* store.compareAndSet(key, 1, closed(1))).toBe(true)
          yield* store.modify(key, closed(0), increment)
          expect(Option.getOrThrow(yield* store.get(key)).version).toBe(3)
          expect(yield* store.compareAndSet(key, 2, closed(99))).toBe(false)
          expect(yield* store.compareAndSet(key, 3, closed(7))).toBe(true)
          expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({ state: closed(7), version: 4 })
        })
      )

      it.effect(`${WRITERS} concurrent increments lose no update`, () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const key = freshKey("modify-concurrent")
          const results = yield* Effect.all(
            range(1, WRITERS).map(() => store.modify(key, closed(0), increment)),
            { concurrency: "unbounded" }
          )
          // Atomic: every increment saw a different count.
          expect(sorted(results)).toEqual(range(1, WRITERS))
          expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({ state: closed(WRITERS), version: WRITERS })
        })
      )

      it.effect("concurrent increments on several keys stay apart", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const keys = [freshKey("k1"), freshKey("k2"), freshKey("k3")]
          yield* Effect.all(
            keys.flatMap((key, i) => range(1, (i + 1) * 3).map(() => store.modify(key, closed(0), increment))),
            { concurrency: "unbounded" }
          )
          for (const [i, key] of keys.entries()) {
            expect(tallyOf(Option.getOrThrow(yield* store.get(key)).state)).toBe((i + 1) * 3)
          }
        })
      )
    })

    describe("modifyWithCompareAndSet over the store's get and compareAndSet", () => {
      it.effect("on an absent key, creates the state at version 1 and returns the result", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const modify = CircuitBreakerStore.modifyWithCompareAndSet(store)
          const key = freshKey("cas-absent")
          const result = yield* modify(key, closed(0), increment)
          expect(result).toBe(1)
          expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({ state: closed(1), version: 1 })
          expect(yield* modify(key, closed(0), increment)).toBe(2)
          expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({ state: closed(2), version: 2 })
        })
      )

      it.effect("returning the state unchanged writes nothing", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const modify = CircuitBreakerStore.modifyWithCompareAndSet(store)
          const key = freshKey("cas-noop")
          expect(yield* store.compareAndSet(key, 0, closed(5))).toBe(true)
          const result = yield* modify(key, closed(0), (s) => [tallyOf(s), s] as const)
          expect(result).toBe(5)
          expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({ state: closed(5), version: 1 })
        })
      )

      it.effect(`${WRITERS} concurrent increments lose no update, even when every read yields`, () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          // Yielding after each read lets the other writers in between read and write.
          const modify = CircuitBreakerStore.modifyWithCompareAndSet({
            get: (key) => Effect.zipLeft(store.get(key), Effect.yieldNow()),
            compareAndSet: store.compareAndSet
          })
          const key = freshKey("cas-concurrent")
          const results = yield* Effect.all(
            range(1, WRITERS).map(() => modify(key, closed(0), increment)),
            { concurrency: "unbounded" }
          )
          expect(sorted(results)).toEqual(range(1, WRITERS))
          expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({ state: closed(WRITERS), version: WRITERS })
        })
      )

      it.effect("retries when another writer got there first, and keeps that writer's update", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const key = freshKey("cas-rival")
          expect(yield* store.compareAndSet(key, 0, closed(0))).toBe(true)
          let rivalWrites = 2
          let calls = 0
          // A rival adds 100 right after each of our first two reads.
          const modify = CircuitBreakerStore.modifyWithCompareAndSet({
            get: (k) =>
              Effect.tap(store.get(k), (current) =>
                rivalWrites-- > 0
                  ? store.compareAndSet(k, versionOf(current), closed(tallyOf(Option.getOrThrow(current).state) + 100))
                  : Effect.void
              ),
            compareAndSet: store.compareAndSet
          })
          const result = yield* modify(key, closed(0), (s) => {
            calls++
            return increment(s)
          })
          expect(result).toBe(201)
          expect(calls).toBe(3)
          expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({ state: closed(201), version: 4 })
        })
      )

      it.effect("gives up with a Conflict CircuitStoreError after maxAttempts, writing nothing of its own", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const key = freshKey("cas-conflict")
          expect(yield* store.compareAndSet(key, 0, closed(0))).toBe(true)
          let calls = 0
          const modify = CircuitBreakerStore.modifyWithCompareAndSet(
            {
              get: (k) =>
                Effect.tap(store.get(k), (current) =>
                  store.compareAndSet(k, versionOf(current), closed(tallyOf(Option.getOrThrow(current).state) + 100))
                ),
              compareAndSet: store.compareAndSet
            },
            3
          )
          const error = yield* Effect.flip(
            modify(key, closed(0), (s) => {
              calls++
              return increment(s)
            })
          )
          expect(error).toBeInstanceOf(CircuitStoreError)
          expect(error.reason).toBe("Conflict")
          expect(calls).toBe(3)
          // Only the rival's three writes.
          expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({ state: closed(300), version: 4 })
        })
      )
    })

    describe("delete", () => {
      it.effect("removes the state; the key can then be created again from version 0", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const key = freshKey("delete")
          expect(yield* store.compareAndSet(key, 0, closed(1))).toBe(true)
          expect(yield* store.compareAndSet(key, 1, closed(2))).toBe(true)
          yield* store.delete(key)
          expect(Option.isNone(yield* store.get(key))).toBe(true)
          expect(yield* store.compareAndSet(key, 2, closed(3))).toBe(false)
          expect(yield* store.compareAndSet(key, 0, closed(4))).toBe(true)
          expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({ state: closed(4), version: 1 })
        })
      )

      it.effect("modify after delete starts from the initial state", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const key = freshKey("delete-modify")
          yield* store.modify(key, closed(10), increment)
          yield* store.delete(key)
          expect(yield* store.modify(key, closed(20), increment)).toBe(21)
          expect(Option.getOrThrow(yield* store.get(key))).toStrictEqual({ state: closed(21), version: 1 })
        })
      )

      it.effect("deleting an absent key succeeds, and deleting one key leaves the others", () =>
        Effect.gen(function* () {
          const store = yield* CircuitBreakerStore.CircuitBreakerStore
          const kept = freshKey("kept")
          const gone = freshKey("gone")
          yield* store.delete(freshKey("never-written"))
          expect(yield* store.compareAndSet(kept, 0, closed(1))).toBe(true)
          expect(yield* store.compareAndSet(gone, 0, closed(2))).toBe(true)
          yield* store.delete(gone)
          expect(Option.isNone(yield* store.get(gone))).toBe(true)
          expect(Option.getOrThrow(yield* store.get(kept))).toStrictEqual({ state: closed(1), version: 1 })
        })
      )
    })

    describe("breakers sharing the store", () => {
      it.effect("two breakers with one name share the circuit: trip via one, the other rejects", () =>
        Effect.gen(function* () {
          const circuit = freshKey("shared")
          const a = yield* makeBreaker(circuit)
          const b = yield* makeBreaker(circuit)
          yield* a.trip
          expect((yield* b.state)._tag).toBe("Open")
          let ran = false
          const error = yield* Effect.flip(b.execute(Effect.sync(() => (ran = true))))
          expect(error).toBeInstanceOf(CircuitOpenError)
          expect(error).toMatchObject({ _tag: "CircuitOpenError", circuit })
          expect(ran).toBe(false)
        })
      )

      it.effect("failures through both breakers add up to one trip", () =>
        Effect.gen(function* () {
          const circuit = freshKey("shared-tally")
          const a = yield* makeBreaker(circuit, { failureThreshold: 2 })
          const b = yield* makeBreaker(circuit, { failureThreshold: 2 })
          expect(yield* Effect.flip(a.execute(fail))).toBe("boom")
          expect((yield* b.state)._tag).toBe("Closed")
          expect(yield* Effect.flip(b.execute(fail))).toBe("boom")
          expect((yield* a.state)._tag).toBe("Open")
          expect((yield* Effect.flip(a.execute(Effect.succeed(1))))._tag).toBe("CircuitOpenError")
        })
      )

      it.effect("reset via one breaker, the other admits", () =>
        Effect.gen(function* () {
          const circuit = freshKey("shared-reset")
          const a = yield* makeBreaker(circuit, { failureThreshold: 1 })
          const b = yield* makeBreaker(circuit, { failureThreshold: 1 })
          expect(yield* Effect.flip(b.execute(fail))).toBe("boom")
          expect((yield* Effect.flip(b.execute(Effect.succeed(1))))._tag).toBe("CircuitOpenError")
          yield* a.reset
          expect((yield* b.state)._tag).toBe("Closed")
          expect(yield* b.execute(Effect.succeed(1))).toBe(1)
        })
      )

      it.effect("an isolation through one breaker holds for both, past resetTimeout; its release closes for both", () =>
        Effect.gen(function* () {
          const circuit = freshKey("shared-isolation")
          const a = yield* makeBreaker(circuit, { successThreshold: 1 })
          const b = yield* makeBreaker(circuit, { successThreshold: 1 })
          const handle = yield* a.isolate
          yield* TestClock.adjust(5_000)
          expect((yield* b.state)._tag).toBe("Open")
          expect((yield* Effect.flip(b.execute(Effect.succeed(1))))._tag).toBe("CircuitOpenError")
          // A trip through the other breaker does not end the isolation.
          yield* b.trip
          yield* TestClock.adjust(5_000)
          expect((yield* b.state)._tag).toBe("Open")
          yield* handle.release
          expect((yield* b.state)._tag).toBe("Closed")
          expect(yield* b.execute(Effect.succeed(2))).toBe(2)
        })
      )

      it.effect("Open half-opens for both after resetTimeout", () =>
        Effect.gen(function* () {
          const circuit = freshKey("shared-timeout")
          const a = yield* makeBreaker(circuit, { successThreshold: 1 })
          const b = yield* makeBreaker(circuit, { successThreshold: 1 })
          yield* a.trip
          yield* TestClock.adjust(999)
          expect((yield* Effect.flip(b.execute(Effect.succeed(1))))._tag).toBe("CircuitOpenError")
          yield* TestClock.adjust(1)
          expect((yield* a.state)._tag).toBe("HalfOpen")
          expect(yield* b.execute(Effect.succeed(2))).toBe(2)
          expect((yield* a.state)._tag).toBe("Closed")
        })
      )

      it.effect("the Half-Open trial limit holds across two breakers sharing a name", () =>
        Effect.gen(function* () {
          const circuit = freshKey("shared-trials")
          const a = yield* makeBreaker(circuit, { successThreshold: 2, maxConcurrentTrials: 2 })
          const b = yield* makeBreaker(circuit, { successThreshold: 2, maxConcurrentTrials: 2 })
          yield* a.trip
          yield* TestClock.adjust(1000)
          const release = yield* Deferred.make<void>()
          const trial = (started: Deferred.Deferred<void>, value: number) =>
            Effect.zipRight(Deferred.succeed(started, undefined), Effect.as(Deferred.await(release), value))
          const startedA = yield* Deferred.make<void>()
          const startedB = yield* Deferred.make<void>()
          const fiberA = yield* Effect.fork(a.execute(trial(startedA, 1)))
          yield* Deferred.await(startedA)
          const fiberB = yield* Effect.fork(b.execute(trial(startedB, 2)))
          yield* Deferred.await(startedB)
          const state = yield* a.state
          expect(state).toMatchObject({ _tag: "HalfOpen", trialsInFlight: 2, successes: 0 })
          // Both trial slots are taken: a third call is rejected, through either breaker.
          let ran = false
          const third = Effect.sync(() => (ran = true))
          expect(yield* Effect.flip(a.execute(third))).toBeInstanceOf(CircuitOpenError)
          expect(yield* Effect.flip(b.execute(third))).toBeInstanceOf(CircuitOpenError)
          expect(ran).toBe(false)
          yield* Deferred.succeed(release, undefined)
          expect(yield* Fiber.join(fiberA)).toBe(1)
          expect(yield* Fiber.join(fiberB)).toBe(2)
          expect((yield* b.state)._tag).toBe("Closed")
          expect(yield* b.execute(Effect.succeed(3))).toBe(3)
        })
      )

      it.effect("an interrupted trial gives its slot back to the other breaker", () =>
        Effect.gen(function* () {
          const circuit = freshKey("shared-interrupt")
          const a = yield* makeBreaker(circuit, { successThreshold: 1 })
          const b = yield* makeBreaker(circuit, { successThreshold: 1 })
          yield* a.trip
          yield* TestClock.adjust(1000)
          const started = yield* Deferred.make<void>()
          const fiber = yield* Effect.fork(
            a.execute(Effect.zipRight(Deferred.succeed(started, undefined), Effect.never))
          )
          yield* Deferred.await(started)
          expect((yield* Effect.flip(b.execute(Effect.succeed(1))))._tag).toBe("CircuitOpenError")
          yield* Fiber.interrupt(fiber)
          expect(yield* b.execute(Effect.succeed(1))).toBe(1)
          expect((yield* a.state)._tag).toBe("Closed")
        })
      )

      it.effect("the state survives re-creating the breaker", () =>
        Effect.gen(function* () {
          const circuit = freshKey("recreate")
          const first = yield* makeBreaker(circuit, { failureThreshold: 3 })
          expect(yield* Effect.flip(first.execute(fail))).toBe("boom")
          expect(yield* Effect.flip(first.execute(fail))).toBe("boom")
          // A new breaker (a restart, say) carries on from the stored tally: one more failure trips it.
          const second = yield* makeBreaker(circuit, { failureThreshold: 3 })
          expect((yield* second.state)._tag).toBe("Closed")
          expect(yield* Effect.flip(second.execute(fail))).toBe("boom")
          expect((yield* second.state)._tag).toBe("Open")
          const third = yield* makeBreaker(circuit, { failureThreshold: 3 })
          expect((yield* third.state)._tag).toBe("Open")
          expect((yield* Effect.flip(third.execute(Effect.succeed(1))))._tag).toBe("CircuitOpenError")
        })
      )

      it.effect("breakers with different names do not share a circuit", () =>
        Effect.gen(function* () {
          const a = yield* makeBreaker(freshKey("apart-a"))
          const b = yield* makeBreaker(freshKey("apart-b"))
          yield* a.trip
          expect((yield* a.state)._tag).toBe("Open")
          expect((yield* b.state)._tag).toBe("Closed")
          expect(yield* b.execute(Effect.succeed(1))).toBe(1)
        })
      )
    })
  })
}
