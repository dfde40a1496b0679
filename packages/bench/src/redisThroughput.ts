/**
 * Items a and b of the Redis section: calls per second through ONE circuit, in-memory and Redis modes interleaved
 * round by round, with the commands each Redis mode's own server ran during its rounds.
 */
import { type AdvancedCircuitBreaker, createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
import { envInt } from "./env.js"
import { type Counters, commandsBetween, readCounters } from "./redisCommandCounts.js"
import type { Resp } from "./respClient.js"
import { sleep } from "./sleep.js"

export const ROUNDS = envInt("BENCH_REDIS_ROUNDS", 15)
export const ROUND_MS = envInt("BENCH_REDIS_ROUND_MS", 400)
export const CALLERS = 100
export const YIELD_EVERY = 100
export const FAIL_EVERY = 1000

const fn = async (): Promise<number> => 42

export type Mode = "memory" | "redis" | "redisFailing"

export const modes: ReadonlyArray<Mode> = ["memory", "redis", "redisFailing"]

export const modeLabel: Record<Mode, string> = {
  memory: "in memory (`distributedTracking: false`)",
  redis: "Redis (`distributedTracking: true`)",
  redisFailing: `Redis, 1 call in ${FAIL_EVERY} fails (not retried): informational`
}

export type RedisMode = Exclude<Mode, "memory">

export const redisModes: ReadonlyArray<RedisMode> = ["redis", "redisFailing"]

export type Breaker = AdvancedCircuitBreaker<[], number>

/** A breaker for the whole run; in a Redis mode, connected and its circuit read once before anything is counted. */
const makeBreaker = async (mode: Mode, url: string | undefined): Promise<Breaker> => {
  const name = `throughput-${mode}`
  if (url === undefined) return createAdvancedCircuitBreaker(fn, { name })
  let calls = 0
  const failing = async (): Promise<number> => {
    if (++calls % FAIL_EVERY === 0) throw new Error("down")
    return 42
  }
  const breaker = createAdvancedCircuitBreaker(mode === "redis" ? fn : failing, {
    name,
    distributedTracking: true,
    redis: url,
    ...(mode === "redisFailing" ? { maxRetries: 0 } : {})
  })
  const deadline = Date.now() + 5000
  while ((await breaker.getDistributedState().catch(() => null)) === null) {
    if (Date.now() > deadline) throw new Error("the Redis-mode breaker did not connect within 5 s")
    await sleep(10)
  }
  await breaker.execute()
  await sleep(50)
  return breaker
}

/** Calls per second: `CALLERS` callers, each looping `await breaker.execute()` for `ms`. */
const hammer = async (breaker: Breaker, ms: number): Promise<number> => {
  let calls = 0
  const start = performance.now()
  const end = start + ms
  const caller = async () => {
    for (let i = 1; performance.now() < end; i++) {
      await breaker.execute().catch(() => undefined)
      calls++
      if (i % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve))
    }
  }
  await Promise.all(Array.from({ length: CALLERS }, caller))
  return (calls * 1000) / (performance.now() - start)
}

export interface RoundResult {
  readonly callsPerSecond: number
  /** Redis modes only: what that mode's own server ran during the round. */
  readonly commands?: Counters
  readonly seconds: number
}

const runRound = async (breaker: Breaker, monitor: Resp | undefined): Promise<RoundResult> => {
  ;(globalThis as { gc?: () => void }).gc?.()
  if (monitor === undefined) return { callsPerSecond: await hammer(breaker, ROUND_MS), seconds: ROUND_MS / 1000 }
  const before = await readCounters(monitor)
  const t0 = performance.now()
  const callsPerSecond = await hammer(breaker, ROUND_MS)
  const after = await readCounters(monitor)
  return { callsPerSecond, commands: commandsBetween(before, after), seconds: (performance.now() - t0) / 1000 }
}

export type RoundResults = Record<Mode, ReadonlyArray<RoundResult>>

/**
 * One breaker per mode for the whole run (a Redis mode's on that mode's own server), a warm-up round each, then
 * `ROUNDS` interleaved rounds. The breakers are added to `breakers` as they are made, for the caller to dispose.
 */
export const runInterleavedRounds = async (
  urls: Record<RedisMode, string>,
  monitors: Record<RedisMode, Resp>,
  breakers: Partial<Record<Mode, Breaker>>,
  progress: (line: string) => void
): Promise<RoundResults> => {
  for (const mode of modes) {
    const breaker = (breakers[mode] = await makeBreaker(mode, mode === "memory" ? undefined : urls[mode]))
    await hammer(breaker, ROUND_MS)
  }
  const results: Record<Mode, Array<RoundResult>> = { memory: [], redis: [], redisFailing: [] }
  for (let round = 1; round <= ROUNDS; round++) {
    // Rotate the order each round so that no mode always runs first.
    for (let k = 0; k < modes.length; k++) {
      const mode = modes[(k + round) % modes.length]!
      results[mode].push(await runRound(breakers[mode]!, mode === "memory" ? undefined : monitors[mode]))
    }
    progress(`  redis round ${round}/${ROUNDS} done`)
  }
  return results
}
