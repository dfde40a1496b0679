import * as CircuitBreakerMetrics from "@circuit-breaker/core/CircuitBreakerMetrics"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { vi } from "vitest"
import { createAdvancedCircuitBreaker } from "../src/index.js"

const count = (metric: Metric.Metric.Counter<number>, circuit: string): number =>
  Effect.runSync(Metric.value(Metric.tagged(metric, "circuit", circuit))).count

describe("a Promise breaker in a process that uses Effect metrics", () => {
  it("publishes its counts to them, the calls made before they attached included", async () => {
    const { effectMetrics } = CircuitBreakerMetrics
    const breaker = createAdvancedCircuitBreaker(
      async (fail: boolean) => {
        if (fail) throw new Error("down")
        return 1
      },
      { name: "promise-effect-metrics", maxRetries: 0 }
    )
    await breaker.execute(false)
    await breaker.execute(true).catch(() => undefined)
    await vi.waitFor(() => expect(count(effectMetrics.calls, "promise-effect-metrics")).toBe(2), { timeout: 20_000 })
    expect(count(effectMetrics.successes, "promise-effect-metrics")).toBe(1)
    expect(count(effectMetrics.failures, "promise-effect-metrics")).toBe(1)
    await breaker.execute(false)
    expect(count(effectMetrics.calls, "promise-effect-metrics")).toBe(3)
    await breaker.dispose()
  })
})
