/**
 * Per-call timings, all contenders in one process, interleaved round by round: each round
 * measures every contender once (n sequential calls, n calibrated to ~200 ms (BENCH_ROUND_MS)), after a
 * full GC. Ratios and differences are taken within a round, then the median over rounds.
 */
import { CircuitBreaker } from "@circuit-breaker/core"
import { type AdvancedCircuitBreaker, createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
import { CircuitState, ConsecutiveBreaker, circuitBreaker, handleAll } from "cockatiel"
import type * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import Opossum from "opossum"
import { calibrate, measure } from "./timing.js"

/** The function every breaker wraps. */
const fn = async (): Promise<number> => 42
const noop = (): void => {}

/** Far beyond the run: an open circuit stays open while it is measured. */
const ONE_DAY = 24 * 60 * 60 * 1000

export type ContenderId =
  | "direct"
  | "effectStep"
  | "oursClosed"
  | "opossumClosed"
  | "cockatielClosed"
  | "oursOpen"
  | "opossumOpen"
  | "cockatielOpen"
  | "effectDefault"
  | "effectLean"
  | "effectIdiomatic"
  | "wrapperFloor"
  | "timedWrapperFloor"

export interface Contender {
  readonly id: ContenderId
  /** Prepares n calls (outside the timed region); the returned function makes them. */
  readonly prepare: (n: number) => () => Promise<unknown>
}

export interface Fixture {
  readonly contenders: ReadonlyArray<Contender>
  /** Disposes every breaker, so that the process exits. */
  readonly close: () => Promise<void>
}

/** One loop per contender, so that each call site stays monomorphic. */
const promiseLoop =
  (loop: (n: number) => Promise<void>) =>
  (n: number): (() => Promise<void>) =>
  () =>
    loop(n)

/** n steps inside ONE `Effect.runPromise`: the per-step cost, the runPromise boundary amortised away. */
const fiberLoop =
  (step: Effect.Effect<unknown, unknown>) =>
  (n: number): (() => Promise<void>) => {
    const items = new Array<number>(n).fill(0)
    return () => Effect.runPromise(Effect.forEach(items, () => step, { discard: true }))
  }

/**
 * References for item 4, no breaker in them: the least that an Effect executor which
 * decides before a call and records after it costs (`withFiberRuntime` to run code when the
 * step runs, a match on the outcome, the `succeed` of the value), and the same with the
 * uninterruptible region around an interruptible attempt that a timeout by interruption of
 * the caller's fiber needs. Handlers made once, so that they cost less than any real one.
 */
const outcome = {
  onSuccess: (a: unknown) => Effect.succeed(a),
  onFailure: (cause: Cause.Cause<unknown>) => Effect.failCause(cause)
}
const wrapperFloor = (step: Effect.Effect<unknown>): Effect.Effect<unknown, unknown> =>
  Effect.withFiberRuntime(() => Effect.matchCauseEffect(step, outcome))
const timedWrapperFloor = (step: Effect.Effect<unknown>): Effect.Effect<unknown, unknown> =>
  Effect.withFiberRuntime(() => Effect.uninterruptible(Effect.matchCauseEffect(Effect.interruptible(step), outcome)))

/**
 * What an Effect user writes without a breaker for the breaker's defaults: a 10 s timeout per
 * attempt, and up to 3 retries with exponential backoff from 100 ms.
 */
const idiomatic = (step: Effect.Effect<unknown>): Effect.Effect<unknown, unknown> =>
  step.pipe(
    Effect.timeout(Duration.seconds(10)),
    Effect.retry(Schedule.intersect(Schedule.exponential(Duration.millis(100)), Schedule.recurs(3)))
  )

/** 1 and 2: no breaker, and a closed circuit with default options. */
const closedContenders = (step: Effect.Effect<number>): Fixture => {
  const oursClosed: AdvancedCircuitBreaker<[], number> = createAdvancedCircuitBreaker(fn, { name: "closed" })
  const opossumClosed = new Opossum(fn)
  const cockatielClosed = circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) })
  const contenders: ReadonlyArray<Contender> = [
    {
      id: "direct",
      prepare: promiseLoop(async (n) => {
        for (let i = 0; i < n; i++) await fn()
      })
    },
    { id: "effectStep", prepare: fiberLoop(step) },
    {
      id: "oursClosed",
      prepare: promiseLoop(async (n) => {
        for (let i = 0; i < n; i++) await oursClosed.execute()
      })
    },
    {
      id: "opossumClosed",
      prepare: promiseLoop(async (n) => {
        for (let i = 0; i < n; i++) await opossumClosed.fire()
      })
    },
    {
      id: "cockatielClosed",
      prepare: promiseLoop(async (n) => {
        for (let i = 0; i < n; i++) await cockatielClosed.execute(fn)
      })
    }
  ]
  const close = async () => {
    await oursClosed.dispose()
    opossumClosed.shutdown()
    // cockatiel holds no timers and nothing to close.
  }
  return { contenders, close }
}

/** 3. An open circuit. Ours: default options but resetTimeout, tripped by 5 failing calls. */
const openContenders = async (): Promise<Fixture> => {
  let failing = true
  const oursOpen = createAdvancedCircuitBreaker(() => (failing ? Promise.reject(new Error("down")) : fn()), {
    name: "open",
    resetTimeout: ONE_DAY
  })
  await Promise.all(Array.from({ length: 5 }, () => oursOpen.execute().catch(noop)))
  failing = false
  if (oursOpen.getState() !== "OPEN") throw new Error(`our breaker did not open: ${oursOpen.getState()}`)
  const opossumOpen = new Opossum(fn, { resetTimeout: ONE_DAY })
  opossumOpen.open()
  if (!opossumOpen.opened) throw new Error("opossum did not open")
  const cockatielOpen = circuitBreaker(handleAll, { halfOpenAfter: ONE_DAY, breaker: new ConsecutiveBreaker(1) })
  await cockatielOpen.execute(() => Promise.reject(new Error("down"))).catch(noop)
  if (cockatielOpen.state !== CircuitState.Open) throw new Error("cockatiel did not open")
  const contenders: ReadonlyArray<Contender> = [
    {
      id: "oursOpen",
      prepare: promiseLoop(async (n) => {
        for (let i = 0; i < n; i++) await oursOpen.execute().catch(noop)
      })
    },
    {
      id: "opossumOpen",
      prepare: promiseLoop(async (n) => {
        for (let i = 0; i < n; i++) await opossumOpen.fire().catch(noop)
      })
    },
    {
      id: "cockatielOpen",
      prepare: promiseLoop(async (n) => {
        for (let i = 0; i < n; i++) await cockatielOpen.execute(fn).catch(noop)
      })
    }
  ]
  const close = async () => {
    await oursOpen.dispose()
    opossumOpen.shutdown()
  }
  return { contenders, close }
}

/** 4. The Effect API, and the references without a breaker. Its breakers hold no timers and nothing to close. */
const effectContenders = async (step: Effect.Effect<number>): Promise<ReadonlyArray<Contender>> => {
  const effectDefault = await Effect.runPromise(CircuitBreaker.make({ name: "effect-default" }))
  const effectLean = await Effect.runPromise(
    CircuitBreaker.make({ name: "effect-lean", timeout: false, maxRetries: 0 })
  )
  return [
    { id: "effectDefault", prepare: fiberLoop(step.pipe(CircuitBreaker.withCircuitBreaker(effectDefault))) },
    { id: "effectLean", prepare: fiberLoop(step.pipe(CircuitBreaker.withCircuitBreaker(effectLean))) },
    { id: "effectIdiomatic", prepare: fiberLoop(idiomatic(step)) },
    { id: "wrapperFloor", prepare: fiberLoop(wrapperFloor(step)) },
    { id: "timedWrapperFloor", prepare: fiberLoop(timedWrapperFloor(step)) }
  ]
}

export const makeFixture = async (): Promise<Fixture> => {
  const step = Effect.promise(fn)
  const closed = closedContenders(step)
  const open = await openContenders()
  const effect = await effectContenders(step)
  const close = async () => {
    await closed.close()
    await open.close()
  }
  return { contenders: [...closed.contenders, ...open.contenders, ...effect], close }
}

export interface SpeedResult {
  /** ns per call, per contender, one entry per round. */
  readonly perRound: Record<ContenderId, Array<number>>
  readonly n: Record<ContenderId, number>
}

export const runSpeed = async (rounds: number, targetMs: number, log: (line: string) => void): Promise<SpeedResult> => {
  const fixture = await makeFixture()
  try {
    const { contenders } = fixture
    const n = {} as Record<ContenderId, number>
    const perRound = {} as Record<ContenderId, Array<number>>
    // Warm-up and calibration, twice: the second pass sees optimised code.
    for (let pass = 0; pass < 2; pass++) {
      for (const c of contenders) n[c.id] = await calibrate(c, targetMs)
    }
    for (const c of contenders) perRound[c.id] = []
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so that no contender always runs first or last.
      for (let k = 0; k < contenders.length; k++) {
        const c = contenders[(k + r) % contenders.length]!
        perRound[c.id].push(await measure(c, n[c.id]))
      }
      log(`  round ${r + 1}/${rounds} done`)
    }
    return { perRound, n }
  } finally {
    await fixture.close()
  }
}
