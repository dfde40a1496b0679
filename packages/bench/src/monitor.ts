/**
 * What serving the monitor costs (issue 13), in one process:
 *
 * - the Promise API's closed-circuit overhead (Δ vs `await fn()`) in rounds where the process
 *   serves the monitor with a dashboard connected to `/events`, against rounds where it does
 *   not, interleaved, the ratio taken per round;
 * - the time `GET /metrics` takes for 1,000 circuits of both APIs, each with calls counted.
 */
import { CircuitBreaker } from "@circuit-breaker/core"
import { CircuitMonitor } from "@circuit-breaker/monitor"
import { createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
import * as Effect from "effect/Effect"
import { envInt } from "./env.js"
import type { Contender } from "./speed.js"
import { num, range, summarize, type Target } from "./stats.js"
import { calibrate, measure } from "./timing.js"

const ROUNDS = envInt("BENCH_MONITOR_ROUNDS", 15)
const ROUND_MS = envInt("BENCH_ROUND_MS", 200)
const CIRCUITS = 1000
const SCRAPES = envInt("BENCH_MONITOR_SCRAPES", 30)
/** Scrapes before the measured ones: the rendering code is compiled and optimised by then. */
const WARMUP_SCRAPES = 10

const fn = async (): Promise<number> => 42

export interface MonitorResult {
  readonly lines: ReadonlyArray<string>
  readonly targets: ReadonlyArray<Target>
}

/** A monitor with one `/events` client reading everything it sends; `stop` ends both. */
const servedAndWatched = async () => {
  const monitor = await CircuitMonitor.serve({ port: 0 })
  const abort = new AbortController()
  const response = await fetch(`${monitor.url}events`, { signal: abort.signal })
  const reading = (async () => {
    const reader = response.body!.getReader()
    for (;;) if ((await reader.read()).done) return
  })().catch(() => undefined)
  return {
    stop: async () => {
      abort.abort()
      await reading
      await monitor.close()
    }
  }
}

const closedOverhead = async (progress: (line: string) => void) => {
  const breaker = createAdvancedCircuitBreaker(fn, { name: "bench-monitor-closed" })
  const direct: Contender = {
    id: "direct",
    prepare: (n) => async () => {
      for (let i = 0; i < n; i++) await fn()
    }
  }
  const ours: Contender = {
    id: "oursClosed",
    prepare: (n) => async () => {
      for (let i = 0; i < n; i++) await breaker.execute()
    }
  }
  const n = { direct: await calibrate(direct, ROUND_MS), ours: await calibrate(ours, ROUND_MS) }
  const ratios: Array<number> = []
  const without: Array<number> = []
  const served: Array<number> = []
  const overhead = async () => (await measure(ours, n.ours)) - (await measure(direct, n.direct))
  for (let round = 0; round < ROUNDS; round++) {
    // A B B A: a drift of the machine's load within the round weighs on both sides alike.
    const before = await overhead()
    const monitor = await servedAndWatched()
    const watched = ((await overhead()) + (await overhead())) / 2
    await monitor.stop()
    const plain = (before + (await overhead())) / 2
    without.push(plain)
    served.push(watched)
    ratios.push(watched / plain)
    progress(`  monitor round ${round + 1}/${ROUNDS} done`)
  }
  await breaker.dispose()
  return { ratio: summarize(ratios), without: summarize(without), served: summarize(served) }
}

const scrapeTime = async () => {
  const promiseBreakers = Array.from({ length: CIRCUITS / 2 }, (_, i) =>
    createAdvancedCircuitBreaker(fn, { name: `bench-scrape-promise-${i}` })
  )
  const effectBreakers = Array.from({ length: CIRCUITS / 2 }, (_, i) =>
    Effect.runSync(CircuitBreaker.make({ name: `bench-scrape-effect-${i}` }))
  )
  for (const b of promiseBreakers) await b.execute()
  for (const b of effectBreakers) await Effect.runPromise(b.execute(Effect.succeed(1)))
  const monitor = await CircuitMonitor.serve({ port: 0 })
  const times: Array<number> = []
  let bytes = 0
  for (let i = 0; i < SCRAPES + WARMUP_SCRAPES; i++) {
    const started = performance.now()
    const text = await (await fetch(`${monitor.url}metrics`)).text()
    if (i >= WARMUP_SCRAPES) times.push(performance.now() - started)
    bytes = text.length
  }
  await monitor.close()
  await Promise.all(promiseBreakers.map((b) => b.dispose()))
  // Kept alive (registered weakly) until the scrapes are done.
  if (effectBreakers.length !== CIRCUITS / 2) throw new Error("unreachable")
  return { times: summarize(times), bytes }
}

export const measureMonitor = async (progress: (line: string) => void): Promise<MonitorResult> => {
  progress(
    `monitor: ${ROUNDS} rounds with and without the monitor served, then ${SCRAPES} scrapes of ${CIRCUITS} circuits`
  )
  const overhead = await closedOverhead(progress)
  const scrape = await scrapeTime()
  return {
    lines: [
      `Promise closed-circuit overhead (Δ vs \`await fn()\`): ${range(overhead.without, " ns")} without the monitor, ${range(overhead.served, " ns")} while it serves a connected dashboard.`,
      `GET /metrics for ${CIRCUITS} circuits (${CIRCUITS / 2} per API, over HTTP on loopback, ${num(scrape.bytes / 1024)} KB): ${range(scrape.times, " ms")}.`
    ],
    targets: [
      {
        name: "Monitor served: Promise closed overhead ≤ 1.05× without it",
        measured: `${range(overhead.served, " ns")} vs ${range(overhead.without, " ns")}`,
        limit: "ratio ≤ 1.05",
        ratio: range(overhead.ratio),
        pass: overhead.ratio.median <= 1.05
      },
      {
        name: `GET /metrics for ${CIRCUITS} circuits ≤ 50 ms`,
        measured: range(scrape.times, " ms"),
        limit: "≤ 50 ms",
        ratio: range(summarize([scrape.times.median / 50, scrape.times.min / 50, scrape.times.max / 50])),
        pass: scrape.times.median <= 50
      }
    ]
  }
}
