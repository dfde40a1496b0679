/**
 * The Redis section's text and targets, from what redisThroughput.ts and tripPropagation.ts measured.
 */
import * as os from "node:os"
import { type Counters, INSIDE_SCRIPTS, perSecond } from "./redisCommandCounts.js"
import {
  CALLERS,
  type Mode,
  modeLabel,
  modes,
  type RedisMode,
  ROUND_MS,
  ROUNDS,
  type RoundResults,
  YIELD_EVERY
} from "./redisThroughput.js"
import { num, percentile, range, type Summary, summarize, type Target, table } from "./stats.js"
import type { Trip } from "./tripPropagation.js"

const THROUGHPUT_LIMIT = 0.8
const COMMANDS_LIMIT = 20
const PROPAGATION_LIMIT_MS = 10

export interface RedisModeMeasurements {
  readonly version: string
  readonly results: RoundResults
  readonly trips: ReadonlyArray<Trip>
  /** Load average (1 min) before and after the trips. */
  readonly load: number
  readonly loadAfter: number
}

export interface RedisModeResult {
  /** The section's text: tables and notes. */
  readonly lines: ReadonlyArray<string>
  /** Empty when nothing was measured (no redis-server). */
  readonly targets: ReadonlyArray<Target>
}

interface ModeCommands {
  readonly counters: ReadonlyArray<Counters>
  readonly seconds: number
  /** Commands per second over all rounds of the mode. */
  readonly total: number
  readonly perRound: Summary
  /** Commands per second not run inside the store's Lua scripts: the client's round trips. */
  readonly client: number
}

const ratioOf = (results: RoundResults, mode: Mode): Summary =>
  summarize(results[mode].map((r, i) => r.callsPerSecond / results.memory[i]!.callsPerSecond))

const commandsOf = (results: RoundResults, mode: RedisMode): ModeCommands => {
  const rounds = results[mode]
  const counters = rounds.map((r) => r.commands!)
  const seconds = rounds.reduce((s, r) => s + r.seconds, 0)
  return {
    counters,
    seconds,
    total: perSecond(counters, seconds),
    perRound: summarize(rounds.map((r) => r.commands!.total / r.seconds)),
    client: perSecond(counters, seconds) - [...INSIDE_SCRIPTS].reduce((n, c) => n + perSecond(counters, seconds, c), 0)
  }
}

const throughputLines = (version: string, results: RoundResults): ReadonlyArray<string> => [
  `redis-server ${version}, loopback, spawned for the bench (one per Redis mode, so that its counters ` +
    `are one breaker's). ${ROUNDS} interleaved rounds of ${ROUND_MS} ms per mode (order rotated; one breaker ` +
    `per mode for the whole run, after a warm-up round); ${CALLERS} concurrent callers looping ` +
    "`await breaker.execute()` on `async () => 42` through ONE circuit, each yielding to the event loop every " +
    `${YIELD_EVERY} calls. Promise API from dist/, default options. calls/s and ×: median over rounds ` +
    "(min–max); commands/s: over all rounds of the mode (min–max of the rounds).",
  "",
  table(
    ["mode", "calls/s", "× in-memory (per round)", "Redis commands/s (all)", "of which client round trips/s"],
    modes.map((mode) => {
      const cps = summarize(results[mode].map((r) => r.callsPerSecond))
      if (mode === "memory") return [modeLabel[mode], range(cps), "1", "0", "0"]
      const c = commandsOf(results, mode)
      const commandsCell = `${num(c.total)} (${num(c.perRound.min)}–${num(c.perRound.max)})`
      return [modeLabel[mode], range(cps), range(ratioOf(results, mode)), commandsCell, num(c.client)]
    }),
    ["l", "r", "r", "r", "r"]
  )
]

const commandTypeLines = (commands: ModeCommands, failingCommands: ModeCommands): ReadonlyArray<string> => {
  const names = [...new Set([...commands.counters, ...failingCommands.counters].flatMap((c) => [...c.calls.keys()]))]
  names.sort()
  return [
    "Redis commands by type, per second over all rounds of a mode (INFO commandstats deltas, the measuring " +
      "connection's own INFO taken out). `evalsha`/`eval` are the store's round trips; the commands marked * " +
      "run inside its Lua scripts (a read: TIME + HMGET; a compare-and-set: TIME + HGET + HSET + PEXPIRE, " +
      "+ PUBLISH on a change of state) and count in total_commands_processed too.",
    "",
    table(
      ["command", modeLabel.redis, modeLabel.redisFailing],
      [
        ...names.map((name) => [
          `${name}${INSIDE_SCRIPTS.has(name) ? " *" : ""}`,
          num(perSecond(commands.counters, commands.seconds, name)),
          num(perSecond(failingCommands.counters, failingCommands.seconds, name))
        ]),
        ["total_commands_processed", num(commands.total), num(failingCommands.total)]
      ],
      ["l", "r", "r"]
    )
  ]
}

const propagationLines = (
  { load, loadAfter, trips }: RedisModeMeasurements,
  latencies: ReadonlyArray<number>
): ReadonlyArray<string> => {
  const phases: ReadonlyArray<readonly [string, ReadonlyArray<number>]> = [
    ["the parent's own state OPEN (its call settled)", trips.map((t) => t.local)],
    [
      "the announcement in the child (a raw subscriber beside the store's)",
      trips.flatMap((t) => (t.message === undefined ? [] : [t.message]))
    ],
    ["**the child's `getState()` reads OPEN** (the target)", latencies]
  ]
  return [
    `Trip propagation to a second process, ${latencies.length} trips: parent hrtime just before the failing call ` +
      "that trips the circuit → child hrtime when its `getState()`, polled every ms, first reads OPEN (the " +
      "parent's write and publish, then in the child the message and one read of the circuit, then up to 1 ms " +
      "of poll). The rows before it split that time. " +
      `Both on CLOCK_MONOTONIC. Load average (1 min) ${num(load)} before, ${num(loadAfter)} after, on ` +
      `${os.availableParallelism()} cores.`,
    "",
    table(
      ["from the parent's failing call to", "trips", "min ms", "p50 ms", "p90 ms", "p99 ms", "max ms"],
      phases.map(([label, values]) => {
        const sorted = [...values].sort((a, b) => a - b)
        if (sorted.length === 0) return [label, "0", "", "", "", "", ""]
        const at = (p: number) => num(percentile(sorted, p))
        return [label, String(sorted.length), num(sorted[0]!), at(50), at(90), at(99), num(sorted.at(-1)!)]
      }),
      ["l", "r", "r", "r", "r", "r", "r"]
    )
  ]
}

const targetsOf = (
  results: RoundResults,
  commands: ModeCommands,
  latencies: ReadonlyArray<number>
): ReadonlyArray<Target> => {
  const redisRatio = ratioOf(results, "redis")
  const memoryCps = summarize(results.memory.map((r) => r.callsPerSecond))
  const redisCps = summarize(results.redis.map((r) => r.callsPerSecond))
  const p50 = percentile(latencies, 50)
  const p99 = percentile(latencies, 99)
  return [
    {
      name: `Redis mode: calls/s, one circuit, ${CALLERS} callers, Redis ≥ ${THROUGHPUT_LIMIT * 100}% of in-memory`,
      measured: `Redis ${range(redisCps)} vs memory ${range(memoryCps)} calls/s; per round ${range(redisRatio)}`,
      limit: `Redis/memory ≥ ${THROUGHPUT_LIMIT}`,
      ratio: num(redisRatio.median / THROUGHPUT_LIMIT),
      pass: redisRatio.median >= THROUGHPUT_LIMIT
    },
    {
      name: "Redis mode: Redis commands/s per circuit per instance at that call rate",
      measured:
        `${num(commands.total)} over ${num(commands.seconds)} s of rounds ` +
        `(${num(commands.client)} round trips/s; rounds ${num(commands.perRound.min)}–${num(commands.perRound.max)})`,
      limit: `≤ ${COMMANDS_LIMIT}`,
      ratio: num(commands.total / COMMANDS_LIMIT),
      pass: commands.total <= COMMANDS_LIMIT
    },
    {
      name: "Redis mode: trip propagation to a second process, p99",
      measured: `p99 ${num(p99)} ms, p50 ${num(p50)} ms (${latencies.length} trips)`,
      limit: `≤ ${PROPAGATION_LIMIT_MS} ms`,
      ratio: num(p99 / PROPAGATION_LIMIT_MS),
      pass: p99 <= PROPAGATION_LIMIT_MS
    }
  ]
}

export const redisModeReport = (measured: RedisModeMeasurements): RedisModeResult => {
  const latencies = measured.trips.map((t) => t.seen).sort((a, b) => a - b)
  const commands = commandsOf(measured.results, "redis")
  const failingCommands = commandsOf(measured.results, "redisFailing")
  const lines = [
    ...throughputLines(measured.version, measured.results),
    "",
    ...commandTypeLines(commands, failingCommands),
    "",
    ...propagationLines(measured, latencies)
  ]
  return { lines, targets: targetsOf(measured.results, commands, latencies) }
}
