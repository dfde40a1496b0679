import { describe, expect, it } from "@effect/vitest"
import * as Metric from "effect/Metric"
import { globalMetricRegistry } from "../src/internal/metricRegistry.js"

describe("the metric registry the recorders update", () => {
  it("is Effect's global registry, reached without effect/Metric", () => {
    // The key is an Effect detail: if Effect changes it, the two registries part and this fails.
    expect(globalMetricRegistry).toBe(Metric.globalMetricRegistry)
  })
})
