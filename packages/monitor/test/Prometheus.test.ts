/**
 * The expositions, checked by a real parser: `promtool check metrics` over what `/metrics`
 * serves and over what `@effect/opentelemetry` + `@opentelemetry/exporter-prometheus` make of
 * the Effect metrics the breakers update.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CircuitBreaker } from "@circuit-breaker/core"
import { createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import * as OtelResource from "@effect/opentelemetry/Resource"
import { expect, it } from "@effect/vitest"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import * as Effect from "effect/Effect"
import { down } from "./utils/errors.js"
import { handlerOf } from "./utils/http.js"
import { describeWith, promtoolPath } from "./utils/tools.js"

/** promtool's verdict: its exit status and what it printed (lint problems are printed, and fail). */
const promtool = (exposition: string) => {
  const result = spawnSync(promtoolPath!, ["check", "metrics"], { input: exposition, encoding: "utf8" })
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() }
}

const busyBreakers = async (prefix: string) => {
  const eb = Effect.runSync(
    CircuitBreaker.make({ name: `${prefix}effect`, maxRetries: 1, retryDelay: 1, failureThreshold: 2 })
  )
  await Effect.runPromise(Effect.either(eb.execute(Effect.succeed(1))))
  await Effect.runPromise(Effect.either(eb.execute(Effect.fail(down("down")))))
  await Effect.runPromise(Effect.either(eb.execute(Effect.succeed(1))))
  // An awkward name: quotes, a backslash and a newline must be escaped in label values.
  const pb = createAdvancedCircuitBreaker(async (ok: boolean) => (ok ? 1 : Promise.reject(new Error("no"))), {
    name: `${prefix}promise "odd"\\name\nx`,
    maxRetries: 0,
    failureThreshold: 1
  })
  await pb.execute(true)
  await pb.execute(false).catch(() => undefined)
  await pb.execute(true).catch(() => undefined)
  return { eb, pb }
}

describeWith("promtool", promtoolPath, "Prometheus exposition", () => {
  it("promtool itself rejects a bad exposition (the check can fail)", () => {
    expect(promtool('# TYPE x_total counter\nx_total{a="1} 2\n').status).not.toBe(0)
    // What the exporter printed before counters were declared incremental, and latency was in milliseconds.
    const before = promtool(
      "# HELP circuit_breaker_calls_total Calls\n# TYPE circuit_breaker_calls_total gauge\ncircuit_breaker_calls_total 3\n" +
        "# HELP circuit_breaker_latency_ms Latency\n# TYPE circuit_breaker_latency_ms gauge\ncircuit_breaker_latency_ms 3\n"
    )
    expect(before.status).not.toBe(0)
    expect(before.output).toContain('non-counter metrics should not have "_total" suffix')
    expect(before.output).toContain("abbreviated units")
  })

  it("/metrics passes promtool check metrics, counters, the histogram in seconds and the transitions included", async () => {
    const { pb } = await busyBreakers("promtool-")
    const text = await (await handlerOf()("/metrics")).text()
    expect(text).toContain(
      'circuit_breaker_transitions_total{circuit="promtool-promise \\"odd\\"\\\\name\\nx",from="Closed",to="Open"} 1'
    )
    expect(text).toContain('le="0.001"')
    expect(text).toContain('le="30"')
    const verdict = promtool(text)
    expect(verdict.output).toBe("")
    expect(verdict.status).toBe(0)
    await pb.dispose()
  })

  it("/metrics has the policies' series: slow calls, bulkhead rejections, fallbacks, the window's rates and the mode", async () => {
    const window = Effect.runSync(
      CircuitBreaker.make({
        name: "policies-window",
        maxRetries: 0,
        failureRateThreshold: 50,
        slidingWindowSize: 4,
        minimumNumberOfCalls: 4,
        slowCallDurationThreshold: "10 seconds"
      })
    )
    for (const effect of [Effect.fail(down("down")), Effect.succeed(1), Effect.succeed(2), Effect.succeed(3)]) {
      await Effect.runPromise(Effect.either(window.execute(effect)))
    }
    const moded = Effect.runSync(CircuitBreaker.make({ name: "policies-mode" }))
    Effect.runSync(moded.setMode("metricsOnly"))
    const pb = createAdvancedCircuitBreaker(() => new Promise((resolve) => setTimeout(() => resolve("late"), 20)), {
      name: "policies-promise",
      maxRetries: 0,
      maxConcurrent: 1,
      slowCallDurationThreshold: 5,
      fallback: () => "fallback"
    })
    const first = pb.execute()
    // The bulkhead is full: the fallback answers the second call.
    expect(await pb.execute()).toBe("fallback")
    expect(await first).toBe("late")
    const text = await (await handlerOf()("/metrics")).text()
    const lines = text.split("\n")
    for (const line of [
      'circuit_breaker_failure_rate{circuit="policies-window"} 25',
      'circuit_breaker_slow_call_rate{circuit="policies-window"} 0',
      'circuit_breaker_mode{circuit="policies-window",mode="normal"} 1',
      'circuit_breaker_mode{circuit="policies-mode",mode="metricsOnly"} 1',
      'circuit_breaker_mode{circuit="policies-mode",mode="normal"} 0',
      'circuit_breaker_failure_rate{circuit="policies-mode"} -1',
      'circuit_breaker_slow_calls_total{circuit="policies-promise"} 1',
      'circuit_breaker_bulkhead_rejections_total{circuit="policies-promise"} 1',
      'circuit_breaker_fallback_calls_total{circuit="policies-promise"} 1'
    ]) {
      expect(lines).toContain(line)
    }
    expect(text).toContain("# TYPE circuit_breaker_mode gauge")
    expect(text).toContain("# TYPE circuit_breaker_failure_rate gauge")
    const verdict = promtool(text)
    expect(verdict.output).toBe("")
    expect(verdict.status).toBe(0)
    await pb.dispose()
  })

  it("the @effect/opentelemetry Prometheus exporter reads the counters as counters and the duration in seconds", async () => {
    await busyBreakers("otel-")
    const exporter = new PrometheusExporter({ preventServerStart: true })
    const collected = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* OtelMetrics.registerProducer(yield* OtelMetrics.makeProducer, () => exporter)
          return yield* Effect.promise(() => exporter.collect())
        })
      ).pipe(Effect.provide(OtelResource.layer({ serviceName: "monitor-test" })))
    )
    const text = new PrometheusSerializer().serialize(collected.resourceMetrics)
    expect(text).toContain("# TYPE circuit_breaker_calls_total counter")
    expect(text).toContain("# TYPE circuit_breaker_failures_total counter")
    expect(text).toContain("# TYPE circuit_breaker_transitions_total counter")
    expect(text).toContain("# TYPE circuit_breaker_call_duration_seconds histogram")
    expect(text).not.toContain("latency_ms")
    expect(text).toMatch(/circuit_breaker_calls_total\{[^}]*circuit="otel-effect"[^}]*\} 3/)
    const verdict = promtool(text)
    expect(verdict.output).toBe("")
    expect(verdict.status).toBe(0)
    await exporter.shutdown()
  })

  it("the README's example alert rules load in Prometheus (promtool check rules)", () => {
    const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8")
    const rules = /```yaml\n# rules.yml\n([\s\S]*?)```/.exec(readme)?.[1]
    expect(rules).toContain("circuit_breaker_state")
    const dir = mkdtempSync(join(tmpdir(), "monitor-rules-"))
    try {
      writeFileSync(join(dir, "rules.yml"), rules!)
      const result = spawnSync(promtoolPath!, ["check", "rules", join(dir, "rules.yml")], { encoding: "utf8" })
      expect(`${result.stdout}${result.stderr}`).toContain("SUCCESS: 3 rules found")
      expect(result.status).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
