import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import {
  DEFAULT_MAX_RETRY_AFTER,
  halfOpenWaitExpired,
  openDuration,
  parseRetryAfter,
  retryAfterHint
} from "../src/internal/openDuration.js"

describe("openDuration", () => {
  it("is resetTimeout without openBackoff, however many reopenings", () => {
    expect([0, 1, 5, 50].map((n) => openDuration({ resetTimeout: 1000 }, n))).toEqual([1000, 1000, 1000, 1000])
  })

  it("multiplies each consecutive open period after a failed trial, up to maxResetTimeout", () => {
    const policy = { resetTimeout: 1000, openBackoff: { multiplier: 2, maxResetTimeout: 10_000 } }
    expect([0, 1, 2, 3, 4, 1000].map((n) => openDuration(policy, n))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000])
  })

  it.prop(
    "never shorter than resetTimeout nor longer than the cap, and never shorter for more reopenings",
    {
      resetTimeout: FastCheck.integer({ min: 1, max: 100_000 }),
      multiplier: FastCheck.double({ min: 1, max: 10, noNaN: true }),
      extra: FastCheck.integer({ min: 0, max: 1_000_000 }),
      n: FastCheck.integer({ min: 0, max: 200 })
    },
    ({ extra, multiplier, n, resetTimeout }) => {
      const policy = { resetTimeout, openBackoff: { multiplier, maxResetTimeout: resetTimeout + extra } }
      const d = openDuration(policy, n)
      expect(d).toBeGreaterThanOrEqual(resetTimeout)
      expect(d).toBeLessThanOrEqual(resetTimeout + extra)
      expect(openDuration(policy, n + 1)).toBeGreaterThanOrEqual(d)
      expect(Number.isInteger(d)).toBe(true)
    }
  )

  it("takes the periods a Schedule listed, the first for a trip from Closed, the last repeating", () => {
    const policy = { resetTimeout: 30_000, openBackoff: { durations: [1000, 2000, 4000], maxResetTimeout: 30_000 } }
    expect([0, 1, 2, 3, 10].map((n) => openDuration(policy, n))).toEqual([1000, 2000, 4000, 4000, 4000])
    expect(openDuration(policy, 0, 20_000)).toBe(20_000)
  })

  it("honours a Retry-After hint longer than the period, capped by maxResetTimeout", () => {
    const policy = { resetTimeout: 1000, openBackoff: { multiplier: 2, maxResetTimeout: 30_000 } }
    expect(openDuration(policy, 0, 5000)).toBe(5000)
    expect(openDuration(policy, 0, 500)).toBe(1000)
    expect(openDuration(policy, 3, 5000)).toBe(8000)
    expect(openDuration(policy, 0, 120_000)).toBe(30_000)
    expect(openDuration(policy, 0, 1234.2)).toBe(1235)
  })

  it("caps a hint at ten minutes (or resetTimeout, if longer) without openBackoff", () => {
    expect(openDuration({ resetTimeout: 1000 }, 0, 3_600_000)).toBe(DEFAULT_MAX_RETRY_AFTER)
    expect(openDuration({ resetTimeout: 1_200_000 }, 0, 3_600_000)).toBe(1_200_000)
    expect(openDuration({ resetTimeout: 1000 }, 0, Number.POSITIVE_INFINITY)).toBe(1000)
  })
})

describe("retryAfterHint", () => {
  it("passes a number of 0 or more through, and makes anything else no hint", () => {
    expect(retryAfterHint(() => 2500, new Error("x"))).toBe(2500)
    expect(retryAfterHint(() => 0, new Error("x"))).toBe(0)
    expect(retryAfterHint(undefined, new Error("x"))).toBeUndefined()
    for (const answer of [undefined, -1, Number.NaN, "100", null, {}]) {
      expect(retryAfterHint(() => answer, new Error("x"))).toBeUndefined()
    }
    expect(
      retryAfterHint(() => {
        throw new Error("boom")
      }, new Error("x"))
    ).toBeUndefined()
  })

  it("receives the error", () => {
    const error = { status: 429, retryAfterMs: 700 }
    expect(retryAfterHint((e) => (e as typeof error).retryAfterMs, error)).toBe(700)
  })
})

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-01-01T00:00:00Z")
  it("reads delta-seconds and HTTP dates", () => {
    expect(parseRetryAfter("120", now)).toBe(120_000)
    expect(parseRetryAfter(" 0 ", now)).toBe(0)
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000)
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", now)).toBe(0)
  })
  it("gives no hint for an absent or unreadable header", () => {
    for (const header of [undefined, null, "", "soon", "-5"]) expect(parseRetryAfter(header, now)).toBeUndefined()
  })
})

describe("halfOpenWaitExpired", () => {
  it("expires once maxWaitInHalfOpen has passed since the circuit became Half-Open", () => {
    expect(halfOpenWaitExpired(1000, 5000, 5999)).toBe(false)
    expect(halfOpenWaitExpired(1000, 5000, 6000)).toBe(true)
    expect(halfOpenWaitExpired(undefined, 0, Number.MAX_SAFE_INTEGER)).toBe(false)
  })
})
