import { describe, expect, it } from "@effect/vitest"
import { Duration, Either, Schedule } from "effect"
import { CircuitBreakerConfigError } from "../src/CircuitBreakerError.js"
import { fallbackOf, type PolicyOptions, resolvePolicyOptions, tripRuleOf } from "../src/internal/policyOptions.js"

const RESET = 30_000

const resolved = (input: Record<string, unknown>): PolicyOptions => {
  const result = resolvePolicyOptions(input, RESET)
  if (Either.isLeft(result)) throw new Error(`expected options to resolve, got ${result.left.message}`)
  return result.right
}

const rejected = (input: Record<string, unknown>): CircuitBreakerConfigError => {
  const result = resolvePolicyOptions(input, RESET)
  if (Either.isRight(result)) throw new Error("expected a CircuitBreakerConfigError")
  return result.left
}

const invalid: ReadonlyArray<readonly [string, Record<string, unknown>, string, string]> = [
  ["a failure rate of 0", { failureRateThreshold: 0 }, "failureRateThreshold", "percentage"],
  ["a failure rate above 100", { failureRateThreshold: 100.5 }, "failureRateThreshold", "percentage"],
  ["a failure rate of NaN", { failureRateThreshold: Number.NaN }, "failureRateThreshold", "percentage"],
  ["a failure rate as a string", { failureRateThreshold: "50" }, "failureRateThreshold", "percentage"],
  ["a negative slow-call rate", { slowCallRateThreshold: -1 }, "slowCallRateThreshold", "percentage"],
  ["a slow-call rate above 100", { slowCallRateThreshold: 101 }, "slowCallRateThreshold", "percentage"],
  ["a window of 0 calls", { slidingWindowSize: 0 }, "slidingWindowSize", "1 or more"],
  ["a window of 1.5 calls", { slidingWindowSize: 1.5 }, "slidingWindowSize", "whole number"],
  ["a window over 10,000 calls", { slidingWindowSize: 10_001 }, "slidingWindowSize", "at most 10000 calls"],
  [
    "a window over 3,600 s",
    { slidingWindowType: "time", slidingWindowSize: 3_601 },
    "slidingWindowSize",
    "at most 3600 seconds"
  ],
  ["an unknown window type", { slidingWindowType: "sliding" }, "slidingWindowType", '"count" or "time"'],
  [
    "minimumNumberOfCalls above a count window",
    { slidingWindowSize: 10, minimumNumberOfCalls: 11 },
    "minimumNumberOfCalls",
    "must not exceed slidingWindowSize (10)"
  ],
  ["minimumNumberOfCalls of 0", { minimumNumberOfCalls: 0 }, "minimumNumberOfCalls", "1 or more"],
  ["a negative slow-call duration", { slowCallDurationThreshold: -5 }, "slowCallDurationThreshold", "non-negative"],
  ["maxQueue without maxConcurrent", { maxQueue: 5 }, "maxQueue", "needs maxConcurrent"],
  ["queueTimeout without maxConcurrent", { queueTimeout: 100 }, "queueTimeout", "needs maxConcurrent"],
  ["maxConcurrent of 0", { maxConcurrent: 0 }, "maxConcurrent", "1 or more"],
  ["a negative maxQueue", { maxConcurrent: 1, maxQueue: -1 }, "maxQueue", "0 or more"],
  ["a queueTimeout of 0", { maxConcurrent: 1, queueTimeout: 0 }, "queueTimeout", "positive"],
  ["a non-function isResultFailure", { isResultFailure: true }, "isResultFailure", "must be a function"],
  ["a non-function retryAfterFromError", { retryAfterFromError: 5 }, "retryAfterFromError", "must be a function"],
  ["a maxWaitInHalfOpen of 0", { maxWaitInHalfOpen: 0 }, "maxWaitInHalfOpen", "positive"],
  ["an openBackoff that is not an object", { openBackoff: 2 }, "openBackoff", "multiplier, maxResetTimeout"],
  [
    "an openBackoff Schedule with no delay",
    { openBackoff: Schedule.recurs(0) },
    "openBackoff",
    "at least one positive"
  ],
  [
    "an openBackoff multiplier below 1",
    { openBackoff: { multiplier: 0.5, maxResetTimeout: 60_000 } },
    "openBackoff.multiplier",
    "1 or more"
  ],
  [
    "an openBackoff without maxResetTimeout",
    { openBackoff: { multiplier: 2 } },
    "openBackoff.maxResetTimeout",
    "required"
  ],
  [
    "a maxResetTimeout shorter than resetTimeout",
    { openBackoff: { multiplier: 2, maxResetTimeout: 1000 } },
    "openBackoff.maxResetTimeout",
    "resetTimeout (30000 ms)"
  ]
]

describe("policy option validation", () => {
  for (const [label, input, option, reason] of invalid) {
    it(`${label}: a CircuitBreakerConfigError naming ${option}`, () => {
      const error = rejected(input)
      expect(error).toBeInstanceOf(CircuitBreakerConfigError)
      expect(error.option).toBe(option)
      expect(error.reason).toContain(reason)
      expect(error.message).toContain(`"${option}"`)
    })
  }

  it("a non-function fallback: a CircuitBreakerConfigError naming fallback", () => {
    const error = Either.getLeft(fallbackOf("default value"))
    expect(error._tag === "Some" ? error.value.option : undefined).toBe("fallback")
    expect(Either.isRight(fallbackOf(() => 1))).toBe(true)
    expect(Either.isRight(fallbackOf(undefined))).toBe(true)
  })

  it("consecutive failures count without a window, or with failureThreshold given", () => {
    expect(resolved({}).consecutiveFailures).toBe(true)
    expect(resolved({ failureRateThreshold: 50 }).consecutiveFailures).toBe(false)
    expect(resolved({ failureRateThreshold: 50, failureThreshold: 5 }).consecutiveFailures).toBe(true)
    expect(resolved({ maxConcurrent: 2 }).consecutiveFailures).toBe(true)
  })

  it("no policy option: no window, no bulkhead, nothing else", () => {
    expect(resolved({})).toEqual({
      window: undefined,
      isResultFailure: undefined,
      openBackoff: undefined,
      retryAfterFromError: undefined,
      maxWaitInHalfOpen: undefined,
      bulkhead: undefined,
      consecutiveFailures: true
    })
  })

  it("a window takes Resilience4j's defaults for what is not given", () => {
    expect(resolved({ failureRateThreshold: 25 }).window).toEqual({
      type: "count",
      size: 100,
      thresholds: {
        failureRateThreshold: 25,
        slowCallRateThreshold: undefined,
        slowCallDurationThreshold: undefined,
        minimumNumberOfCalls: 100
      }
    })
    expect(resolved({ slidingWindowSize: 10 }).window?.thresholds.minimumNumberOfCalls).toBe(10)
    expect(resolved({ slidingWindowSize: 10 }).window?.thresholds.failureRateThreshold).toBe(50)
    expect(resolved({ slidingWindowType: "time", slidingWindowSize: 10 }).window?.thresholds.minimumNumberOfCalls).toBe(
      100
    )
    expect(resolved({ slowCallDurationThreshold: "2 seconds" }).window?.thresholds).toMatchObject({
      slowCallRateThreshold: 100,
      slowCallDurationThreshold: 2000
    })
    expect(resolved({ slowCallRateThreshold: 30 }).window?.thresholds).toMatchObject({
      slowCallRateThreshold: 30,
      slowCallDurationThreshold: 60_000
    })
    // minimumNumberOfCalls may exceed a time window's size: it counts calls, not seconds.
    expect(resolved({ slidingWindowType: "time", slidingWindowSize: 5, minimumNumberOfCalls: 50 }).window?.size).toBe(5)
  })

  it("durations may be milliseconds, Effect Durations or strings", () => {
    const options = resolved({
      maxWaitInHalfOpen: Duration.seconds(3),
      maxConcurrent: 4,
      queueTimeout: "250 millis",
      openBackoff: { multiplier: 1.5, maxResetTimeout: "5 minutes" }
    })
    expect(options.maxWaitInHalfOpen).toBe(3000)
    expect(options.bulkhead).toEqual({ maxConcurrent: 4, maxQueue: 0, queueTimeout: 250 })
    expect(options.openBackoff).toEqual({ multiplier: 1.5, maxResetTimeout: 300_000 })
  })
})

describe("openBackoff as an Effect Schedule", () => {
  it("lists the schedule's delays as the open periods, up to where it ends", () => {
    const backoff = resolved({
      openBackoff: Schedule.exponential("1 second").pipe(Schedule.intersect(Schedule.recurs(3)))
    }).openBackoff
    expect(backoff).toEqual({ durations: [1000, 2000, 4000], maxResetTimeout: RESET })
    const endless = resolved({ openBackoff: Schedule.exponential("1 second") }).openBackoff
    expect(endless && "durations" in endless ? endless.durations.slice(0, 4) : undefined).toEqual([
      1000, 2000, 4000, 8000
    ])
    expect(endless?.maxResetTimeout).toBeGreaterThan(RESET)
  })
})

describe("tripRuleOf", () => {
  it("consecutive failures alone without a window", () => {
    expect(tripRuleOf(5, false, undefined).name).toBe("consecutiveFailures(5)")
  })

  it("the window alone, unless failureThreshold was given too", () => {
    const window = resolved({ failureRateThreshold: 50, slidingWindowSize: 10, minimumNumberOfCalls: 10 }).window
    const alone = tripRuleOf(5, false, window)
    expect(alone.name).toMatch(/^countWindow\(10/)
    let tally = alone.initial
    for (let i = 0; i < 9; i++) tally = alone.onFailure(tally, i)
    // Nine failures in a row, below minimumNumberOfCalls: a window alone does not trip.
    expect(alone.shouldTrip(tally)).toBe(false)
    const both = tripRuleOf(5, true, window)
    expect(both.name).toMatch(/^anyOf\(consecutiveFailures\(5\), countWindow/)
    let tallies = both.initial
    for (let i = 0; i < 5; i++) tallies = both.onFailure(tallies, i)
    expect(both.shouldTrip(tallies)).toBe(true)
    const time = tripRuleOf(5, false, resolved({ slidingWindowType: "time", slidingWindowSize: 30 }).window)
    expect(time.name).toMatch(/^timeWindow\(30s/)
  })
})

describe("tripRuleOf sharing", () => {
  it("breakers configured alike share one rule, and differently configured ones do not", () => {
    const window = resolved({ failureRateThreshold: 50, slidingWindowSize: 100, minimumNumberOfCalls: 20 }).window
    expect(tripRuleOf(5, false, window)).toBe(tripRuleOf(7, false, window))
    expect(tripRuleOf(5, true, window)).not.toBe(tripRuleOf(7, true, window))
    expect(tripRuleOf(5, false, window)).not.toBe(tripRuleOf(5, false, { ...window!, size: 50 }))
    expect(tripRuleOf(3, false, undefined)).toBe(tripRuleOf(3, false, undefined))
  })
})
