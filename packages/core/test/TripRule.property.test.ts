import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { bucketsOf } from "../src/internal/tripRules/timeWindow.js"
import * as TripRule from "../src/TripRule.js"

/** One call as the reference model sees it. */
interface Call {
  readonly failed: boolean
  readonly durationMs: number
  readonly now: number
}

/** Thresholds as halves of a percent (1..200 → 0.5 %..100 %), so the model can compare rates exactly. */
interface Params {
  readonly failureHalves: number | undefined
  readonly slowHalves: number | undefined
  readonly slowMs: number
  readonly minimumNumberOfCalls: number
}

const params = (maxMinimum: number): FastCheck.Arbitrary<Params> =>
  FastCheck.record({
    failureHalves: FastCheck.option(FastCheck.integer({ min: 1, max: 200 }), { nil: undefined }),
    slowHalves: FastCheck.option(FastCheck.integer({ min: 1, max: 200 }), { nil: undefined }),
    slowMs: FastCheck.integer({ min: 0, max: 100 }),
    minimumNumberOfCalls: FastCheck.integer({ min: 1, max: maxMinimum })
  })

const thresholdsOf = (p: Params): TripRule.WindowThresholds => ({
  failureRateThreshold: p.failureHalves === undefined ? undefined : p.failureHalves / 2,
  slowCallRateThreshold: p.slowHalves === undefined ? undefined : p.slowHalves / 2,
  slowCallDurationThreshold: p.slowMs,
  minimumNumberOfCalls: p.minimumNumberOfCalls
})

interface ModelStats {
  readonly calls: number
  readonly failures: number
  readonly slowCalls: number
}

/** The counts of `window`, recomputed from its calls. */
const countsOf = (p: Params, window: ReadonlyArray<Call>): ModelStats => ({
  calls: window.length,
  failures: window.filter((c) => c.failed).length,
  slowCalls: window.filter((c) => c.durationMs > p.slowMs).length
})

/** Whether the model trips: rate = count / calls ≥ halves / 200, compared in whole numbers. */
const modelTrips = (p: Params, s: ModelStats): boolean =>
  s.calls >= p.minimumNumberOfCalls &&
  ((p.failureHalves !== undefined && s.failures * 200 >= p.failureHalves * s.calls) ||
    (p.slowHalves !== undefined && s.slowCalls * 200 >= p.slowHalves * s.calls))

const modelRate = (p: Params, count: number, calls: number): number =>
  calls < p.minimumNumberOfCalls ? -1 : (count / calls) * 100

const fold = <T>(rule: TripRule.TripRule<T>, tally: T, call: Call): T =>
  call.failed ? rule.onFailure(tally, call.now, call.durationMs) : rule.onSuccess(tally, call.now, call.durationMs)

/** Checks the rule's view of `tally` against the model's `window`. */
const agree = <T>(rule: TripRule.TripRule<T>, p: Params, tally: T, window: ReadonlyArray<Call>): void => {
  const model = countsOf(p, window)
  const stats = rule.stats!(tally)
  expect({ calls: stats.calls, failures: stats.failures, slowCalls: stats.slowCalls }).toEqual(model)
  expect(stats.failureRate).toBeCloseTo(modelRate(p, model.failures, model.calls), 9)
  expect(stats.slowCallRate).toBeCloseTo(modelRate(p, model.slowCalls, model.calls), 9)
  expect(rule.shouldTrip(tally)).toBe(modelTrips(p, model))
  expect(rule.failureCount(tally)).toBe(model.failures)
  expect(rule.isTally(tally)).toBe(true)
}

/** Folds `calls` one by one, checking the rule after each against the model's window of the calls so far. */
const replay = <T>(
  rule: TripRule.TripRule<T>,
  p: Params,
  calls: ReadonlyArray<Call>,
  windowOf: (seen: ReadonlyArray<Call>) => ReadonlyArray<Call>
): void => {
  let tally = rule.initial
  agree(rule, p, tally, [])
  calls.forEach((next, i) => {
    tally = fold(rule, tally, next)
    agree(rule, p, tally, windowOf(calls.slice(0, i + 1)))
  })
}

const call = (now: FastCheck.Arbitrary<number>): FastCheck.Arbitrary<Call> =>
  FastCheck.record({ failed: FastCheck.boolean(), durationMs: FastCheck.integer({ min: 0, max: 200 }), now })

/** Sizes around the 32-call words of the ring, and a few large ones. */
const windowSize = FastCheck.oneof(
  FastCheck.integer({ min: 1, max: 40 }),
  FastCheck.constantFrom(31, 32, 33, 63, 64, 65, 100)
)

const countCase = windowSize.chain((size) =>
  FastCheck.record({
    size: FastCheck.constant(size),
    p: params(size),
    calls: FastCheck.array(call(FastCheck.constant(0)), { maxLength: 300 })
  })
)

/** Times that mostly move forward, sometimes far, sometimes back (another process's late batch). */
const timedCalls = FastCheck.array(
  FastCheck.record({
    step: FastCheck.oneof(
      FastCheck.integer({ min: 0, max: 400 }),
      FastCheck.integer({ min: -3_000, max: 0 }),
      FastCheck.integer({ min: 1_000, max: 20_000 })
    ),
    failed: FastCheck.boolean(),
    durationMs: FastCheck.integer({ min: 0, max: 200 })
  }),
  { maxLength: 300 }
).map((steps) => {
  let now = 1_000_000
  return steps.map(({ durationMs, failed, step }) => ({ failed, durationMs, now: (now = Math.max(0, now + step)) }))
})

const timeCase = FastCheck.record({
  seconds: FastCheck.oneof(FastCheck.integer({ min: 1, max: 12 }), FastCheck.constantFrom(59, 60, 61, 100, 3_600)),
  p: params(30),
  calls: timedCalls
})

/** The model's time window: the calls whose bucket is one of the `count` newest buckets seen. */
const timeModel = (seconds: number, history: ReadonlyArray<Call>): ReadonlyArray<Call> => {
  const { count, millis } = bucketsOf(seconds)
  const newest = Math.max(...history.map((c) => Math.floor(c.now / millis)))
  return history.filter((c) => Math.floor(c.now / millis) > newest - count)
}

describe("TripRule windows against a model that recomputes the rates from the whole history", () => {
  it.prop(
    "countWindow: the counts, rates and trip decision of the last `size` calls",
    { c: countCase },
    ({ c }) => {
      replay(TripRule.countWindow(c.size, thresholdsOf(c.p)), c.p, c.calls, (seen) => seen.slice(-c.size))
    },
    { timeout: 60_000, fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "timeWindow: the counts, rates and trip decision of the newest buckets, outcomes in or out of order",
    { c: timeCase },
    ({ c }) => {
      replay(TripRule.timeWindow(c.seconds, thresholdsOf(c.p)), c.p, c.calls, (seen) => timeModel(c.seconds, seen))
    },
    { timeout: 60_000, fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "timeWindow: stats as of a later time leave out the buckets that have left the window",
    { c: timeCase, later: FastCheck.integer({ min: 0, max: 4_000_000 }) },
    ({ c, later }) => {
      const rule = TripRule.timeWindow(c.seconds, thresholdsOf(c.p))
      const tally = c.calls.reduce((t, next) => fold(rule, t, next), rule.initial)
      const last = c.calls.length === 0 ? 0 : Math.max(...c.calls.map((x) => x.now))
      const at = last + later
      const stats = rule.stats!(tally, at)
      const model = countsOf(c.p, timeModel(c.seconds, [...c.calls, { failed: false, durationMs: 0, now: at }]))
      // The marker call at `at` only moves the window: leave it out of the counts.
      expect([stats.calls, stats.failures, stats.slowCalls]).toEqual([model.calls - 1, model.failures, model.slowCalls])
    },
    { timeout: 60_000, fastCheck: { numRuns: 200 } }
  )

  it.prop(
    "timeWindow: processes' outcomes add up, whatever order their batches reach the store in",
    { c: timeCase, order: FastCheck.array(FastCheck.nat(), { maxLength: 300 }) },
    ({ c, order }) => {
      const rule = TripRule.timeWindow(c.seconds, thresholdsOf(c.p))
      // A permutation of the calls, as interleaved batches of several processes reach Redis.
      const keyed = c.calls.map((x, i) => ({ x, key: order[i] ?? i }))
      const shuffled = keyed.sort((a, b) => a.key - b.key).map(({ x }) => x)
      const inOrder = [...c.calls].sort((a, b) => a.now - b.now)
      const a = rule.stats!(shuffled.reduce((t, next) => fold(rule, t, next), rule.initial))
      const b = rule.stats!(inOrder.reduce((t, next) => fold(rule, t, next), rule.initial))
      expect(a).toEqual(b)
    },
    { timeout: 60_000, fastCheck: { numRuns: 200 } }
  )

  it.prop(
    "a tally survives JSON (a store's copy) and goes on exactly as the original",
    { c: countCase, t: timeCase },
    ({ c, t }) => {
      const count = TripRule.countWindow(c.size, thresholdsOf(c.p))
      const half = Math.floor(c.calls.length / 2)
      const before = c.calls.slice(0, half).reduce((x, next) => fold(count, x, next), count.initial)
      const copy = JSON.parse(JSON.stringify(before))
      expect(count.isTally(copy)).toBe(true)
      const rest = c.calls.slice(half)
      expect(rest.reduce((x, next) => fold(count, x, next), copy)).toEqual(
        rest.reduce((x, next) => fold(count, x, next), before)
      )
      const time = TripRule.timeWindow(t.seconds, thresholdsOf(t.p))
      const timed = t.calls.reduce((x, next) => fold(time, x, next), time.initial)
      expect(time.isTally(JSON.parse(JSON.stringify(timed)))).toBe(true)
    },
    { timeout: 60_000, fastCheck: { numRuns: 100 } }
  )

  it.prop(
    "anyOf(consecutive failures, a count window) trips exactly when either model does",
    { c: countCase, threshold: FastCheck.integer({ min: 1, max: 10 }) },
    ({ c, threshold }) => {
      const window = TripRule.countWindow(c.size, thresholdsOf(c.p))
      const rule = TripRule.anyOf([TripRule.consecutiveFailures(threshold), window])
      let tally = rule.initial
      let run = 0
      c.calls.forEach((next, i) => {
        tally = fold(rule, tally, next)
        run = next.failed ? run + 1 : 0
        const model = countsOf(c.p, c.calls.slice(Math.max(0, i + 1 - c.size), i + 1))
        expect(rule.shouldTrip(tally)).toBe(run >= threshold || modelTrips(c.p, model))
        expect(rule.stats!(tally)).toEqual(window.stats!(tally[1] as TripRule.CountWindowTally))
        expect(rule.isTally(tally)).toBe(true)
      })
    },
    { timeout: 60_000, fastCheck: { numRuns: 200 } }
  )
})

describe("TripRule tallies read back from a store", () => {
  it.prop(
    "a count-window tally whose totals no longer match its bits is not taken for a tally",
    { c: countCase, field: FastCheck.constantFrom("failures" as const, "slow" as const) },
    ({ c, field }) => {
      const rule = TripRule.countWindow(c.size, thresholdsOf(c.p))
      const tally = c.calls.reduce((x, next) => fold(rule, x, next), rule.initial)
      expect(rule.isTally({ ...tally, [field]: tally[field] + 1 })).toBe(false)
      if (tally.calls > 0) expect(rule.isTally({ ...tally, [field]: tally[field] - 1 })).toBe(false)
      // A window that is not full is filled from slot 0: `next` is the number of calls.
      if (tally.calls + 1 < c.size) expect(rule.isTally({ ...tally, calls: tally.calls + 1 })).toBe(false)
    },
    { timeout: 60_000, fastCheck: { numRuns: 200 } }
  )

  it("foreign values are not tallies", () => {
    const count = TripRule.countWindow(10, { failureRateThreshold: 50, minimumNumberOfCalls: 5 })
    const time = TripRule.timeWindow(10, { failureRateThreshold: 50, minimumNumberOfCalls: 5 })
    const other = TripRule.countWindow(100, { failureRateThreshold: 50, minimumNumberOfCalls: 5 })
    for (const value of [null, 3, "x", [], {}, other.initial, time.initial]) expect(count.isTally(value)).toBe(false)
    for (const value of [null, 3, count.initial, { ...time.initial, calls: 1 }]) expect(time.isTally(value)).toBe(false)
    expect(TripRule.consecutiveFailures(3).isTally(-1)).toBe(false)
    expect(TripRule.anyOf([count, time]).isTally([count.initial, time.initial])).toBe(true)
    expect(TripRule.anyOf([count, time]).isTally([time.initial, count.initial])).toBe(false)
  })
})
