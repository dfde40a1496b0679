import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Schedule from "effect/Schedule"
import * as RetryBackoff from "../src/RetryBackoff.js"

/** The delays the Effect Schedule of the same options yields (no jitter), one per retry, until it is done. */
const scheduleDelays = (b: RetryBackoff.RetryBackoff): ReadonlyArray<number> => {
  const base =
    b.kind === "exponential"
      ? Schedule.exponential(Duration.millis(b.baseMillis), 2)
      : Schedule.linear(Duration.millis(b.baseMillis))
  const capped = Schedule.modifyDelay(base, (_, d) => Duration.min(d, Duration.millis(b.maxMillis)))
  const schedule = Schedule.intersect(capped, Schedule.recurs(b.maxRetries))
  // `run` steps the schedule without sleeping; `delays` outputs the delay of each recurrence,
  // then the output of the step that ends it (dropped).
  const inputs = Array.from({ length: b.maxRetries + 2 }, () => undefined)
  return Array.from(Effect.runSync(Schedule.run(Schedule.delays(schedule), 0, inputs)), Duration.toMillis).slice(0, -1)
}

const backoffs = FastCheck.record({
  kind: FastCheck.constantFrom("exponential" as const, "linear" as const),
  baseMillis: FastCheck.integer({ min: 1, max: 5_000 }),
  maxMillis: FastCheck.integer({ min: 1, max: 60_000 }),
  jitter: FastCheck.constant(false),
  maxRetries: FastCheck.integer({ min: 0, max: 8 })
})

describe("RetryBackoff", () => {
  it("exponential and linear delays, capped, for maxRetries retries", () => {
    const exponential = { kind: "exponential", baseMillis: 100, maxMillis: 500, jitter: false, maxRetries: 4 } as const
    expect([1, 2, 3, 4, 5].map((n) => RetryBackoff.delay(exponential, n, 0.5))).toEqual([100, 200, 400, 500, undefined])
    const linear = { ...exponential, kind: "linear" } as const
    expect([1, 2, 3, 4, 5].map((n) => RetryBackoff.delay(linear, n, 0.5))).toEqual([100, 200, 300, 400, undefined])
    expect(RetryBackoff.delay(exponential, 0, 0.5)).toBeUndefined()
  })

  it("jitter scales a delay by 0.8 to 1.2 and the cap still holds", () => {
    const b = { kind: "exponential", baseMillis: 100, maxMillis: 10_000, jitter: true, maxRetries: 3 } as const
    expect(RetryBackoff.delay(b, 2, 0)).toBeCloseTo(160)
    expect(RetryBackoff.delay(b, 2, 0.5)).toBeCloseTo(200)
    expect(RetryBackoff.delay(b, 2, 0.999999)).toBeCloseTo(240)
    expect(RetryBackoff.delay({ ...b, maxMillis: 150 }, 2, 0.999999)).toBe(150)
  })

  it("reads the Effect Schedule's delays as it should", () => {
    const b = { kind: "exponential", baseMillis: 100, maxMillis: 300, jitter: false, maxRetries: 3 } as const
    expect(scheduleDelays(b)).toEqual([100, 200, 300])
  })

  it.prop("the same delays as the Effect Schedule of the same options", [backoffs], ([b]) => {
    const expected = scheduleDelays(b)
    const actual = Array.from({ length: b.maxRetries + 1 }, (_, i) => RetryBackoff.delay(b, i + 1, 0.5))
    expect(actual).toEqual([...expected, undefined])
  })
})
