import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { CircuitBreaker, LiveCircuits } from "../src/index.js"

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

const names = () => new Set(LiveCircuits.live().map(({ breaker }) => (breaker as CircuitBreaker.CircuitBreaker).name))

const tick = () => new Promise((resolve) => setTimeout(resolve, 10))

/**
 * Collects garbage until `done` holds. A `deref` keeps its target alive until the end of the
 * current job, so every collection runs in a job of its own, after the last look.
 */
const collectUntil = async (done: () => boolean) => {
  for (let i = 0; i < 20; i++) {
    await tick()
    gc()
    await tick()
    if (done()) return true
  }
  return false
}

describe("LiveCircuits", () => {
  it("lists every breaker made, with its recorder, and the series counts its calls", async () => {
    const breaker = Effect.runSync(CircuitBreaker.make({ name: "live-listed", maxRetries: 0 }))
    await Effect.runPromise(breaker.execute(Effect.succeed(1)))
    const entry = LiveCircuits.live().find((e) => e.breaker === breaker)
    expect(entry).toBeDefined()
    const series = entry!.recorder!.series()
    expect(series).toMatchObject({ calls: 1, successes: 1, failures: 0, durationCount: 1 })
    expect(series.durationBuckets).toHaveLength(LiveCircuits.durationBuckets.length + 1)
    expect(series.durationBuckets.reduce((a, b) => a + b, 0)).toBe(1)
    const untracked = Effect.runSync(CircuitBreaker.make({ name: "live-untracked", metricsTracking: false }))
    expect(LiveCircuits.live().find((e) => e.breaker === untracked)?.recorder).toBeUndefined()
  })

  it("holds breakers weakly: one nothing else uses is collected and drops out", async () => {
    const make = () => {
      for (let i = 0; i < 100; i++) Effect.runSync(CircuitBreaker.make({ name: `live-dropped-${i}` }))
    }
    make()
    const kept = Effect.runSync(CircuitBreaker.make({ name: "live-kept" }))
    expect(names().has("live-dropped-0")).toBe(true)
    expect(await collectUntil(() => ![...names()].some((n) => n.startsWith("live-dropped-")))).toBe(true)
    expect(names().has("live-kept")).toBe(true)
    expect(kept.name).toBe("live-kept")
  })

  it("counts a transition from the state last reported, and the histogram's buckets in seconds", async () => {
    const breaker = Effect.runSync(CircuitBreaker.make({ name: "live-transitions" }))
    await Effect.runPromise(breaker.trip)
    await Effect.runPromise(breaker.reset)
    await Effect.runPromise(breaker.trip)
    const series = LiveCircuits.live()
      .find((e) => e.breaker === breaker)!
      .recorder!.series()
    expect(series.transitions).toEqual([
      { from: "Closed", to: "Open", count: 2 },
      { from: "Open", to: "Closed", count: 1 }
    ])
    expect(LiveCircuits.durationBuckets[0]).toBe(0.001)
    expect(LiveCircuits.durationBuckets.at(-1)).toBe(30)
  })
})
