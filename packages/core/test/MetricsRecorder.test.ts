import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { vi } from "vitest"
import * as CircuitBreakerMetrics from "../src/CircuitBreakerMetrics.js"
import * as LiveCircuits from "../src/LiveCircuits.js"
import { makeRecorder } from "../src/MetricsRecorder.js"

const { effectMetrics } = CircuitBreakerMetrics

const valuesOf = (circuit: string) =>
  Effect.runSync(
    Effect.all({
      calls: Metric.value(Metric.tagged(effectMetrics.calls, "circuit", circuit)),
      successes: Metric.value(Metric.tagged(effectMetrics.successes, "circuit", circuit)),
      failures: Metric.value(Metric.tagged(effectMetrics.failures, "circuit", circuit)),
      rejections: Metric.value(Metric.tagged(effectMetrics.rejections, "circuit", circuit)),
      timeouts: Metric.value(Metric.tagged(effectMetrics.timeouts, "circuit", circuit)),
      retries: Metric.value(Metric.tagged(effectMetrics.retries, "circuit", circuit)),
      slowCalls: Metric.value(Metric.tagged(effectMetrics.slowCalls, "circuit", circuit)),
      failureRate: Metric.value(Metric.tagged(effectMetrics.failureRate, "circuit", circuit)),
      state: Metric.value(Metric.tagged(effectMetrics.state, "circuit", circuit)),
      latency: Metric.value(Metric.tagged(effectMetrics.latency, "circuit", circuit)),
      forcedOpen: Metric.value(
        Metric.tagged(Metric.tagged(effectMetrics.mode, "circuit", circuit), "mode", "forcedOpen")
      ),
      metricsOnly: Metric.value(
        Metric.tagged(Metric.tagged(effectMetrics.mode, "circuit", circuit), "mode", "metricsOnly")
      ),
      normal: Metric.value(Metric.tagged(Metric.tagged(effectMetrics.mode, "circuit", circuit), "mode", "normal")),
      toOpen: Metric.value(
        Metric.tagged(
          Metric.tagged(Metric.tagged(effectMetrics.transitions, "circuit", circuit), "from", "Closed"),
          "to",
          "Open"
        )
      )
    })
  )

describe("a recorder made for the Promise API (makeRecorder)", () => {
  it("attaches its Effect metrics once they are used, and adds what it counted before", async () => {
    // effect/Metric is loaded here, so the metrics are in use: the first count starts loading
    // them (asynchronously), and everything counted until they attach is added when they do.
    const circuit = "recorder-catch-up"
    const recorder = makeRecorder(circuit, "svc", 5)
    LiveCircuits.register({}, recorder)
    recorder.success(3)
    recorder.success(12)
    recorder.failure(700, true)
    recorder.retry()
    recorder.slow()
    recorder.window(50, 0)
    recorder.rejected()
    recorder.state("Open")
    recorder.mode("normal", "forcedOpen")
    recorder.mode("forcedOpen", "metricsOnly")
    expect(valuesOf(circuit).calls.count).toBe(0)

    await vi.waitFor(() => expect(valuesOf(circuit).calls.count).toBe(4), { timeout: 20_000 })
    const caughtUp = valuesOf(circuit)
    expect(caughtUp.successes.count).toBe(2)
    expect(caughtUp.failures.count).toBe(2)
    expect(caughtUp.rejections.count).toBe(1)
    expect(caughtUp.timeouts.count).toBe(1)
    expect(caughtUp.retries.count).toBe(1)
    expect(caughtUp.slowCalls.count).toBe(1)
    expect(caughtUp.failureRate.value).toBe(50)
    expect(caughtUp.state.value).toBe(2)
    expect(caughtUp.toOpen.count).toBe(1)
    expect([caughtUp.normal.value, caughtUp.forcedOpen.value, caughtUp.metricsOnly.value]).toEqual([0, 0, 1])
    // Each bucket's calls at their mean: the count, the buckets and the sum are the calls' own.
    expect(caughtUp.latency.count).toBe(3)
    expect(caughtUp.latency.sum).toBeCloseTo(0.715, 9)
    const cumulative = new Map(caughtUp.latency.buckets)
    expect(cumulative.get(0.0025)).toBe(0)
    expect(cumulative.get(0.005)).toBe(1)
    expect(cumulative.get(0.025)).toBe(2)
    expect(cumulative.get(1)).toBe(3)

    // Once attached, each count goes straight to the Effect metrics, once.
    recorder.success(1)
    const after = valuesOf(circuit)
    expect(after.calls.count).toBe(5)
    expect(after.successes.count).toBe(3)
    expect(after.latency.count).toBe(4)
    expect(recorder.snapshot("Open").totalCalls).toBe(5)
  })
})
