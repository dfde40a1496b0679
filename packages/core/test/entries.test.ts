import { describe, expect, it } from "@effect/vitest"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as CircuitBreakerMetrics from "../src/CircuitBreakerMetrics.js"
import * as Core from "../src/index.js"
import * as Internal from "../src/internal.js"

describe("entries", () => {
  it("the main entry leaves out what only the sibling packages use; the internal entry has it", () => {
    for (const name of ["Deadlines", "CircuitBreakerOptions", "CallPolicy", "clockNow", "makeRecorder"]) {
      expect(Object.keys(Core)).not.toContain(name)
      expect(Object.keys(Internal)).toContain(name)
    }
    expect(Object.keys(CircuitBreaker)).not.toContain("clockNow")
    expect(Object.keys(CircuitBreakerMetrics)).not.toContain("makeRecorder")
  })
})
