import { describe, expect, it } from "@effect/vitest"
import * as Metric from "effect/Metric"
import { effectMetricsInUse } from "../src/internal/effectMetricsDemand.js"
import { globalMetricRegistry } from "../src/internal/metricRegistry.js"

describe("the metric registry the recorders update", () => {
  it("is Effect's global registry, reached without effect/Metric", () => {
    // The key is an Effect detail: if Effect changes it, the two registries part and this fails.
    expect(globalMetricRegistry).toBe(Metric.globalMetricRegistry)
  })

  it("is found where the Promise API looks for it, to know that Effect metrics are in use", () => {
    // Where effect/GlobalValue keeps it: if Effect moves it, Promise breakers would never attach their metrics.
    const store = (globalThis as Record<string, unknown>)["effect/GlobalValue"] as Map<unknown, unknown>
    expect(store.get(Symbol.for("effect/Metric/globalMetricRegistry"))).toBe(Metric.globalMetricRegistry)
    expect(effectMetricsInUse()).toBe(true)
  })
})
