/**
 * A reference model of the trip rules, for property tests over the pure core and over every store: it keeps the
 * whole history of recorded calls and recomputes, after each call, the consecutive failures and the sliding window's
 * counts and rates from that history alone (nothing incremental), and so when the circuit must open.
 *
 * Also a driver that runs such a history through Effect breakers on a clock that only the calls move, so that call
 * durations and time buckets are exact on a loaded machine.
 */
import { Clock, Effect, FastCheck } from "effect"
import type * as CircuitBreaker from "../src/CircuitBreaker.js"
import type { CircuitOpenError } from "../src/CircuitBreakerError.js"

/** The policy under test. Rates are halves of a percent (1..200: 0.5 % to 100 %), so the model compares them exactly. */
export interface ModelConfig {
  readonly type: "count" | "time"
  /** Calls, or seconds. */
  readonly size: number
  readonly failureHalves: number
  /** `undefined`: the option is not given, and its default (100 %) applies. */
  readonly slowHalves: number | undefined
  readonly slowMs: number
  readonly minimumNumberOfCalls: number
  /** `undefined`: no consecutive-failures rule beside the window. */
  readonly failureThreshold: number | undefined
}

/** One call: its outcome, how long it ran (on the breaker's clock), and how long the caller waited before it. */
export interface ModelCall {
  readonly failed: boolean
  readonly durationMs: number
  readonly gapMs: number
}

/** A recorded call, with the time its outcome was observed. */
export interface RecordedCall {
  readonly failed: boolean
  readonly durationMs: number
  readonly end: number
}

/** The breaker options of `config`; the circuit stays Open far longer than any test runs. */
export const optionsOf = (config: ModelConfig) => ({
  slidingWindowType: config.type,
  slidingWindowSize: config.size,
  failureRateThreshold: config.failureHalves / 2,
  slowCallRateThreshold: config.slowHalves === undefined ? undefined : config.slowHalves / 2,
  slowCallDurationThreshold: config.slowMs,
  minimumNumberOfCalls: config.minimumNumberOfCalls,
  failureThreshold: config.failureThreshold,
  resetTimeout: 3_600_000
})

/** The window's counts. */
export interface ModelCounts {
  readonly calls: number
  readonly failures: number
  readonly slowCalls: number
}

/**
 * The documented granularity of a time window of `seconds`: at most 60 buckets, of whole milliseconds; the window is
 * the newest bucket seen and the buckets just before it.
 */
const bucketsOfWindow = (seconds: number) => {
  const count = Math.min(seconds, 60)
  return { count, millis: Math.ceil((seconds * 1000) / count) }
}

/** The calls of `history` in the window as of its latest call. */
export const windowOf = (config: ModelConfig, history: ReadonlyArray<RecordedCall>): ReadonlyArray<RecordedCall> => {
  if (config.type === "count") return history.slice(-config.size)
  if (history.length === 0) return history
  const { count, millis } = bucketsOfWindow(config.size)
  const newest = Math.max(...history.map((call) => Math.floor(call.end / millis)))
  return history.filter((call) => Math.floor(call.end / millis) > newest - count)
}

export const countsOf = (config: ModelConfig, window: ReadonlyArray<RecordedCall>): ModelCounts => ({
  calls: window.length,
  failures: window.filter((call) => call.failed).length,
  slowCalls: window.filter((call) => call.durationMs > config.slowMs).length
})

/** Percent, or -1 below minimumNumberOfCalls. */
export const rateOf = (config: ModelConfig, count: number, calls: number): number =>
  calls < config.minimumNumberOfCalls ? -1 : (count * 100) / calls

/** Whether the calls of `history` trip the circuit as of its latest call. */
export const tripsAfter = (config: ModelConfig, history: ReadonlyArray<RecordedCall>): boolean => {
  let run = 0
  while (run < history.length && history[history.length - 1 - run]!.failed) run++
  if (config.failureThreshold !== undefined && run >= config.failureThreshold) return true
  const counts = countsOf(config, windowOf(config, history))
  const slowHalves = config.slowHalves ?? 200
  return (
    counts.calls >= config.minimumNumberOfCalls &&
    (counts.failures * 200 >= config.failureHalves * counts.calls ||
      counts.slowCalls * 200 >= slowHalves * counts.calls)
  )
}

/** The index of the call of `history` that trips the circuit, or -1 when none does. */
export const tripIndex = (config: ModelConfig, history: ReadonlyArray<RecordedCall>): number =>
  history.findIndex((_, i) => tripsAfter(config, history.slice(0, i + 1)))

// ---------------------------------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------------------------------

const common = {
  failureHalves: FastCheck.integer({ min: 1, max: 200 }),
  slowHalves: FastCheck.option(FastCheck.integer({ min: 1, max: 200 }), { nil: undefined }),
  slowMs: FastCheck.integer({ min: 0, max: 100 }),
  failureThreshold: FastCheck.option(FastCheck.integer({ min: 1, max: 6 }), { nil: undefined, freq: 3 })
}

/** Count windows small enough that the calls of a run roll them over, and one past a 32-call word. */
const countConfig = FastCheck.oneof(FastCheck.integer({ min: 1, max: 12 }), FastCheck.constant(33)).chain((size) =>
  FastCheck.record({
    type: FastCheck.constant("count" as const),
    size: FastCheck.constant(size),
    minimumNumberOfCalls: FastCheck.integer({ min: 1, max: size }),
    ...common
  })
)

/** Time windows of one-second buckets, and one of 60 buckets of 1,017 ms. */
const timeConfig = FastCheck.record({
  type: FastCheck.constant("time" as const),
  size: FastCheck.oneof(FastCheck.integer({ min: 1, max: 4 }), FastCheck.constant(61)),
  minimumNumberOfCalls: FastCheck.integer({ min: 1, max: 12 }),
  ...common
})

export const modelConfig: FastCheck.Arbitrary<ModelConfig> = FastCheck.oneof(countConfig, timeConfig)

const modelCall: FastCheck.Arbitrary<ModelCall> = FastCheck.record({
  failed: FastCheck.boolean(),
  durationMs: FastCheck.integer({ min: 0, max: 150 }),
  gapMs: FastCheck.oneof(
    { weight: 4, arbitrary: FastCheck.integer({ min: 0, max: 300 }) },
    { weight: 1, arbitrary: FastCheck.integer({ min: 900, max: 8_000 }) }
  )
})

/** Calls, each with the breaker instance (an index below `instances`) that makes it. */
export const modelCalls = (instances: number, maxLength: number) =>
  FastCheck.array(FastCheck.record({ call: modelCall, instance: FastCheck.nat({ max: instances - 1 }) }), {
    maxLength
  })

// ---------------------------------------------------------------------------------------------------------------------
// Driving breakers
// ---------------------------------------------------------------------------------------------------------------------

/** A clock that only the test moves; it sleeps in real time (the breakers under test never sleep on it). */
export const manualClock = (start: number) => {
  const live = Clock.make()
  let now = start
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => now,
    currentTimeMillis: Effect.sync(() => now),
    unsafeCurrentTimeNanos: () => BigInt(now) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
    sleep: (duration) => live.sleep(duration)
  }
  return {
    clock,
    now: () => now,
    advance: (ms: number) => {
      now += ms
    }
  }
}

export type ManualClock = ReturnType<typeof manualClock>

/**
 * Makes `call` through `breaker` on `clock`: the caller waits `gapMs`, the service runs `durationMs` and fails or
 * succeeds. The recorded call when the breaker admitted it, `undefined` when it rejected it.
 */
export const runCall = (
  breaker: CircuitBreaker.CircuitBreaker,
  clock: ManualClock,
  call: ModelCall
): Effect.Effect<RecordedCall | undefined, unknown> => {
  const service = Effect.suspend(() => {
    clock.advance(call.durationMs)
    return call.failed ? Effect.fail("down" as const) : Effect.succeed("ok" as const)
  })
  return Effect.suspend(() => {
    clock.advance(call.gapMs)
    return breaker.execute(service).pipe(
      Effect.map((): RecordedCall | undefined => ({ ...call, end: clock.now() })),
      Effect.catchAll((error: "down" | CircuitOpenError | { readonly _tag: string }) =>
        error === "down"
          ? Effect.succeed({ ...call, end: clock.now() })
          : error._tag === "CircuitOpenError"
            ? Effect.succeed(undefined)
            : Effect.fail(error)
      ),
      Effect.withClock(clock.clock)
    )
  })
}
