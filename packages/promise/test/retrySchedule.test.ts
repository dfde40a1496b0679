import * as Duration from "effect/Duration"
import * as Schedule from "effect/Schedule"
import { describe, expect, it } from "vitest"
import { createAdvancedCircuitBreaker } from "../src/index.js"

const failing = () => {
  let calls = 0
  const fn = async (): Promise<never> => {
    calls++
    throw new Error(`down ${calls}`)
  }
  return { fn, calls: () => calls }
}

describe("retries in the Promise API", () => {
  it("a custom retrySchedule decides the retries (stepped with the Effect runtime loaded on first use)", async () => {
    const service = failing()
    const breaker = createAdvancedCircuitBreaker(service.fn, {
      retrySchedule: Schedule.recurs(2),
      failureThreshold: 10
    })
    await expect(breaker.execute()).rejects.toThrow("down 3")
    expect(service.calls()).toBe(3)
    expect(breaker.getMetrics().retries).toBe(2)
    await breaker.dispose()
  })

  it("a custom retrySchedule's delay is waited", async () => {
    const service = failing()
    const breaker = createAdvancedCircuitBreaker(service.fn, {
      retrySchedule: Schedule.intersect(Schedule.spaced(Duration.millis(30)), Schedule.recurs(1)),
      failureThreshold: 10
    })
    const started = performance.now()
    await expect(breaker.execute()).rejects.toThrow("down 2")
    expect(performance.now() - started).toBeGreaterThanOrEqual(29)
    expect(service.calls()).toBe(2)
    await breaker.dispose()
  })

  it("the built-in backoff retries maxRetries times", async () => {
    const service = failing()
    const breaker = createAdvancedCircuitBreaker(service.fn, {
      maxRetries: 3,
      retryDelay: 1,
      retryBackoff: "linear",
      failureThreshold: 10
    })
    await expect(breaker.execute()).rejects.toThrow("down 4")
    expect(service.calls()).toBe(4)
    await breaker.dispose()
  })
})
