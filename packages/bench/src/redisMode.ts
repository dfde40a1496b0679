/**
 * Item 6 of the benchmark issue, Redis mode, against a `redis-server` of its own (spawned on a free loopback port,
 * no persistence, killed by pid at the end). Promise API (`createAdvancedCircuitBreaker`) from the built `dist/`, with
 * `distributedTracking: true, redis: <url>` and otherwise default options, as users run it:
 *
 * a. Calls per second through ONE circuit, 100 concurrent callers each looping `await breaker.execute()` on
 *    `async () => 42`, for a fixed time; in-memory mode and Redis mode interleaved round by round (one breaker per
 *    mode for the whole run, after a warm-up round). Every caller yields to the event loop (`setImmediate`) every
 *    100 calls: without that, promise chains that never leave the microtask queue would starve timers and sockets,
 *    and the Redis store's flushes, polls and pub/sub would all run after the round instead of during it.
 *    A third mode, informational: Redis mode with 1 call in 1000 failing (`maxRetries: 0`), which moves the shared
 *    tally (consecutive failures) and so makes the store write.
 * b. Redis commands per second per circuit per instance at that rate: `total_commands_processed` (which also counts
 *    the commands a Lua script runs) and `INFO commandstats` deltas over each Redis round, read on a separate raw
 *    connection, minus that connection's own INFO. Each Redis mode has a redis-server of its own, so that a server's
 *    counters are one breaker's: one circuit, one instance.
 * c. Trip propagation to a second process: a child process (tripPropagationChild.ts, forked with the same loader flags, importing
 *    `@circuit-breaker/promise` from `dist/`) holds a breaker on the same circuit and polls `getState()` every
 *    millisecond (`setTimeout(0)`; the Promise API announces no change made elsewhere until a call or `getState()`
 *    reads it) until it reads OPEN; the parent takes
 *    `process.hrtime.bigint()` just before the failing call that trips the circuit (failureThreshold 1), the child
 *    when it first reads OPEN. CLOCK_MONOTONIC is one clock for every process of a Linux machine. Reset and repeat.
 *
 * Environment: BENCH_REDIS_ROUNDS (interleaved rounds, default 15), BENCH_REDIS_ROUND_MS (default 400),
 * BENCH_REDIS_TRIPS (trips timed in c, default 100).
 *
 * The store logs through Effect's default logger (console.log, so stdout) when it reaches Redis, once per breaker:
 * while this section runs, those lines go to stderr with the progress lines, so that stdout stays the report.
 */
import * as os from "node:os"
import { type RedisModeResult, redisModeReport } from "./redisModeReport.js"
import { findOnPath, type Server, startServer } from "./redisServerProcess.js"
import { type Breaker, type Mode, type RedisMode, redisModes, runInterleavedRounds } from "./redisThroughput.js"
import { Resp } from "./respClient.js"
import { measurePropagation, TRIPS } from "./tripPropagation.js"

export type { RedisModeResult } from "./redisModeReport.js"

/** Sends the store's log lines (Effect's default logger, so console.log) to stderr; returns the undo. */
const routeStoreLogsToStderr = (): (() => void) => {
  const consoleLog = console.log
  console.log = (...args: Array<unknown>) => {
    if (typeof args[0] === "string" && args[0].startsWith("timestamp=")) process.stderr.write(`${args.join(" ")}\n`)
    else consoleLog(...args)
  }
  return () => {
    console.log = consoleLog
  }
}

export const measureRedisMode = async (progress: (line: string) => void): Promise<RedisModeResult> => {
  const executable = findOnPath("redis-server")
  if (executable === undefined) return { lines: ["Redis mode: skipped (redis-server not found)"], targets: [] }
  const restoreConsoleLog = routeStoreLogsToStderr()
  // One server per Redis mode: a server's counters are then one breaker's (one circuit, one instance).
  const servers: Partial<Record<RedisMode, Server>> = {}
  const monitors: Partial<Record<RedisMode, Resp>> = {}
  const breakers: Partial<Record<Mode, Breaker>> = {}
  try {
    for (const mode of redisModes) {
      const server = (servers[mode] = await startServer(executable))
      monitors[mode] = await Resp.connect(server.port)
    }
    const server = servers.redis!
    progress(
      `redis: redis-server ${server.version}, ports ${redisModes.map((m) => servers[m]!.port).join(", ")}; warm-up`
    )
    const urls = { redis: server.url, redisFailing: servers.redisFailing!.url }
    const results = await runInterleavedRounds(urls, monitors as Record<RedisMode, Resp>, breakers, progress)
    for (const mode of Object.keys(breakers) as Array<Mode>) await breakers[mode]!.dispose()
    progress(`redis: ${TRIPS} trips timed to a second process`)
    const load = os.loadavg()[0]!
    ;(globalThis as { gc?: () => void }).gc?.()
    const trips = await measurePropagation(server.url)
    const loadAfter = os.loadavg()[0]!
    return redisModeReport({ version: server.version, results, trips, load, loadAfter })
  } finally {
    await Promise.all(Object.values(breakers).map((breaker) => breaker.dispose()))
    for (const monitor of Object.values(monitors)) monitor.close()
    await Promise.all(Object.values(servers).map((server) => server.stop()))
    restoreConsoleLog()
  }
}
