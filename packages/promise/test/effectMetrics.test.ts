import * as CircuitBreakerMetrics from "@circuit-breaker/core/CircuitBreakerMetrics"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { vi } from "vitest"
import { createAdvancedCircuitBreaker } from "../src/index.js"
import { runInFreshProcess } from "./utils/freshProcess.js"

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

describe("a Promise breaker called before anything in its process used Effect metrics", () => {
  it("attaches to them at its first call once they are used, its earlier calls included", async () => {
    // A fresh process: this one loaded effect/Metric with its imports. The breaker counts with no
    // registry in the process; the registry appears when effect/Metric is loaded (Effect's global
    // store grows), and the next call finds it.
    const script = `
      const { createAdvancedCircuitBreaker } = await import("@circuit-breaker/promise")
      const breaker = createAdvancedCircuitBreaker(async () => 1, { name: "late-metrics", maxRetries: 0 })
      await breaker.execute()
      await breaker.execute()
      const Metric = await import("effect/Metric")
      const Effect = await import("effect/Effect")
      const { effectMetrics } = await import("@circuit-breaker/core/CircuitBreakerMetrics")
      const calls = () => Effect.runSync(Metric.value(Metric.tagged(effectMetrics.calls, "circuit", "late-metrics"))).count
      const before = calls()
      await breaker.execute()
      for (let i = 0; i < 500 && calls() !== 3; i++) await new Promise((r) => setTimeout(r, 10))
      console.log(JSON.stringify({ before, after: calls() }))
      await breaker.dispose()
    `
    const stdout = await runInFreshProcess(script)
    expect(JSON.parse(stdout.trim().split("\n").at(-1)!)).toEqual({ before: 0, after: 3 })
  })
})
