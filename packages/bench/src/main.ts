/**
 * `npm run bench`: our breaker next to opossum and cockatiel, in one process, interleaved
 * round by round; memory in fresh child processes. Prints the machine, the tables, and
 * each target of issue 5 as a ratio with PASS or FAIL. Only ratios from the same run
 * count, never an absolute time. A benchmark, not a test: CI does not run it.
 *
 * Environment: BENCH_ROUNDS (default 15), BENCH_ROUND_MS (default 200), BENCH_MEMORY_RUNS
 * (processes per library at 10k breakers, default 3), BENCH_MEMORY_RUNS_LARGE (at 100k,
 * default 1), BENCH_MEMORY_BUDGET_MB (a 100k child whose memory, projected from the 10k
 * figure, exceeds it is not started; default 2500), BENCH_CALLS (default 1000000),
 * BENCH_ONLY (a comma list of the sections to run, e.g. "redis" or "speed,memory": speed =
 * the per-call timings, memory = memory per idle breaker and heap growth, redis = Redis
 * mode, startup = import time and bundle size (startup.ts), monitor = the monitor's cost
 * (monitor.ts), policies = issue 11's rows (policies.ts); default all six; the target table lists the targets of the sections run).
 * Redis mode (see redisMode.ts) also reads BENCH_REDIS_ROUNDS (default 15), BENCH_REDIS_ROUND_MS
 * (default 400) and BENCH_REDIS_TRIPS (default 100); it is skipped, with no verdict, when
 * redis-server is not on PATH.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { envInt } from "./env.js"
import { machineLines } from "./machine.js"
import type { GrowthSample, HeapPoint, MemoryKind, MemorySample } from "./memory.js"
import type { SpeedResult } from "./speed.js"
import { speedTable, speedTargets } from "./speedReport.js"
import { num, range, summarize, type Target, table, verdict } from "./stats.js"

const ROUNDS = envInt("BENCH_ROUNDS", 15)
/**
 * 200 ms: at 40 ms (the first runs) the Effect contenders made a few thousand calls a round,
 * and what the forced full GC before each measurement costs the calls right after it (code
 * and feedback re-warmed, a young generation refilled) was a large, erratic share: the
 * same breaker measured +3.9 µs at n = 5000 and +1.1 µs at n = 50000 (step ~1 µs).
 */
const ROUND_MS = envInt("BENCH_ROUND_MS", 200)
const MEMORY_RUNS = envInt("BENCH_MEMORY_RUNS", 3)
const MEMORY_RUNS_LARGE = envInt("BENCH_MEMORY_RUNS_LARGE", 1)
const MEMORY_BUDGET_MB = envInt("BENCH_MEMORY_BUDGET_MB", 2500)
const CALLS = envInt("BENCH_CALLS", 1_000_000)
const SMALL = 10_000
const LARGE = 100_000
const SECTIONS = ["speed", "memory", "redis", "startup", "monitor", "policies"] as const
type Section = (typeof SECTIONS)[number]
const ONLY = (process.env.BENCH_ONLY ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter((s) => s !== "")
const runs = (section: Section): boolean => ONLY.length === 0 || ONLY.includes(section)
const COUNTS = [SMALL, LARGE] as const
const KINDS: ReadonlyArray<MemoryKind> = ["ours-promise", "ours-effect", "opossum", "cockatiel"]
/** Heap checkpoints of the growth run; the first is the warm-up (the failure list full by then). */
const CHECKPOINTS = [10_000, 100_000, 250_000, 500_000] as const
const WARMUP = CHECKPOINTS[0]
/**
 * Heap growth (heapUsed + ArrayBuffers, code included) from the warm-up to the last call
 * that still counts as "no growth": 0.5 B per call over 1e6 calls. Retaining anything per
 * call (an object is 16 B at least) shows as 15 MB or more; V8's JIT metadata churn (code,
 * feedback vectors, deopt data: a few hundred KB) does not.
 */
const GROWTH_LIMIT_KB = 512

const progress = (line: string): void => void process.stderr.write(`${line}\n`)

// --- child processes ---------------------------------------------------------------

const child = async (args: ReadonlyArray<string>): Promise<void> => {
  if (args[0] === "idle") {
    // Counts every timer created from here on; not in the growth child, whose many retry
    // timers it would keep reachable.
    const { installTimerCounter } = await import("./timers.js")
    installTimerCounter()
  }
  const memory = await import("./memory.js")
  const result =
    args[0] === "idle"
      ? await memory.idleBreakers(args[1] as MemoryKind, Number(args[2]))
      : await memory.growth(Number(args[1]), CHECKPOINTS)
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

const spawnChild = <A>(args: ReadonlyArray<string>): Promise<A> =>
  new Promise((resolve, reject) => {
    const execArgv = process.execArgv.includes("--expose-gc") ? process.execArgv : [...process.execArgv, "--expose-gc"]
    execFile(
      process.execPath,
      [
        ...execArgv,
        `--max-old-space-size=${MEMORY_BUDGET_MB + 2048}`,
        fileURLToPath(import.meta.url),
        "--child",
        ...args
      ],
      { maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`child ${args.join(" ")} failed: ${error.message}\n${stderr}`))
        const last = stdout.trim().split("\n").at(-1) ?? ""
        try {
          resolve(JSON.parse(last) as A)
        } catch {
          reject(new Error(`child ${args.join(" ")} printed no result:\n${stdout}\n${stderr}`))
        }
      }
    )
  })

// --- report --------------------------------------------------------------------------

const kindLabel: Record<MemoryKind, string> = {
  "ours-promise": "ours, Promise API (`createAdvancedCircuitBreaker`)",
  "ours-effect": "ours, Effect API (`CircuitBreaker.make`)",
  opossum: "opossum (defaults)",
  cockatiel: "cockatiel (ConsecutiveBreaker(5))"
}

const memorySummary = (samples: ReadonlyArray<MemorySample>, kind: MemoryKind, count: number) => {
  const mine = samples.filter((s) => s.kind === kind && s.count === count)
  if (mine.length === 0) return undefined
  return {
    runs: mine.length,
    heap: summarize(mine.map((s) => s.heapPerBreaker)),
    buffers: summarize(mine.map((s) => s.buffersPerBreaker)),
    total: summarize(mine.map((s) => s.heapPerBreaker + s.buffersPerBreaker)),
    create: summarize(mine.map((s) => s.createNs)),
    refTimers: summarize(mine.map((s) => s.refTimersPerBreaker)),
    allTimers: summarize(mine.map((s) => s.allTimersPerBreaker))
  }
}

/** The 100k children not started: projected MB from the 10k figure. */
type Skipped = ReadonlyMap<MemoryKind, number>

const projectedMB = (samples: ReadonlyArray<MemorySample>, kind: MemoryKind): number =>
  ((memorySummary(samples, kind, SMALL)?.total.median ?? 0) * LARGE) / (1024 * 1024)

const memoryTable = (samples: ReadonlyArray<MemorySample>, skipped: Skipped): string =>
  table(
    [
      "library",
      "breakers",
      "runs",
      "heapUsed B/breaker",
      "ArrayBuffer B/breaker",
      "total B/breaker",
      "create ns/breaker",
      "timers/breaker (ref'd)",
      "timers/breaker (all)"
    ],
    COUNTS.flatMap((count) =>
      KINDS.map((kind) => {
        const m = memorySummary(samples, kind, count)
        if (m === undefined) {
          const mb = skipped.get(kind)
          const why =
            mb === undefined ? "not measured" : `not measured: ~${num(mb)} MB projected > ${MEMORY_BUDGET_MB} MB budget`
          return [kindLabel[kind], String(count), "0", why, "", "", "", "", ""]
        }
        return [
          kindLabel[kind],
          String(count),
          String(m.runs),
          range(m.heap),
          range(m.buffers),
          range(m.total),
          range(m.create),
          range(m.refTimers),
          range(m.allTimers)
        ]
      })
    ),
    ["l", "r", "r", "r", "r", "r", "r", "r", "r"]
  )

const memoryTargets = (
  samples: ReadonlyArray<MemorySample>,
  skipped: Skipped,
  growth: GrowthSample
): ReadonlyArray<Target> => {
  const targets: Array<Target> = []
  for (const kind of ["ours-promise", "ours-effect"] as const) {
    const api = kind === "ours-promise" ? "Promise API" : "Effect API"
    for (const count of COUNTS) {
      const name = `Memory per idle breaker ≤ cockatiel's, ${api}, ${count} breakers (heapUsed + ArrayBuffers)`
      const cockatiel = memorySummary(samples, "cockatiel", count)
      const measured = memorySummary(samples, kind, count)
      // A 100k child over budget: the 10k figure stands in for it, and says so.
      const ours = measured ?? memorySummary(samples, kind, SMALL)
      if (ours === undefined || cockatiel === undefined) continue
      const ratio = ours.total.median / cockatiel.total.median
      targets.push({
        name,
        measured:
          measured === undefined
            ? `not measured (~${num(skipped.get(kind) ?? 0)} MB projected > ${MEMORY_BUDGET_MB} MB budget); the ${SMALL} figure: ours ${num(ours.total.median)} B vs cockatiel ${num(cockatiel.total.median)} B`
            : `ours ${num(ours.total.median)} B (heapUsed ${num(ours.heap.median)}) vs cockatiel ${num(cockatiel.total.median)} B`,
        limit: "ratio ≤ 1",
        ratio: num(ratio),
        pass: ratio <= 1,
        ...(measured === undefined ? { note: `(${SMALL} figure)` } : {})
      })
    }
    const timers = Math.max(
      ...COUNTS.flatMap((count) => {
        const m = memorySummary(samples, kind, count)
        return m === undefined ? [] : [Math.max(m.allTimers.max, m.refTimers.max)]
      })
    )
    targets.push({
      name: `Timers per idle breaker, ${api} (unref'd included)`,
      measured: num(timers),
      limit: "= 0",
      ratio: "—",
      pass: timers === 0
    })
  }
  const at = (calls: number) => growth.points.find((p) => p.calls === calls)
  const first = growth.points[0]!
  const last = growth.points.at(-1)!
  const warm = at(WARMUP) ?? first
  const total = (p: HeapPoint) => p.data + p.code
  const steadyKB = (total(last) - total(warm)) / 1024
  targets.push({
    name: `No heap growth: one Promise-API breaker, heap after ${warm.calls} calls → after ${last.calls}`,
    measured: `${num(steadyKB)} KB: data ${num((last.data - warm.data) / 1024)}, code ${num((last.code - warm.code) / 1024)} (${num((total(last) - total(first)) / 1024)} KB from before the first call)`,
    limit: `≤ ${GROWTH_LIMIT_KB} KB`,
    ratio: num(steadyKB / GROWTH_LIMIT_KB),
    pass: steadyKB <= GROWTH_LIMIT_KB
  })
  return targets
}

const targetTable = (targets: ReadonlyArray<Target>): string =>
  table(
    ["target", "measured, median (min–max)", "limit", "ratio to limit", "verdict"],
    targets.map((t) => [t.name, t.measured, t.limit, t.ratio, `${verdict(t.pass)}${t.note ? ` ${t.note}` : ""}`]),
    ["l", "l", "l", "r", "l"]
  )

// --- main ------------------------------------------------------------------------------

type Print = (line?: string) => void

interface MemoryResult {
  readonly samples: Array<MemorySample>
  readonly skipped: Skipped
  readonly growth: GrowthSample
}

const checkEnvironment = (): void => {
  if (typeof (globalThis as { gc?: unknown }).gc !== "function") {
    throw new Error("gc() is not exposed: run with NODE_OPTIONS=--expose-gc (npm run bench does)")
  }
  const unknown = ONLY.filter((s) => !(SECTIONS as ReadonlyArray<string>).includes(s))
  if (unknown.length > 0) {
    throw new Error(`BENCH_ONLY: unknown section(s) ${unknown.join(", ")}; known: ${SECTIONS.join(", ")}`)
  }
}

const measureMemory = async (): Promise<MemoryResult> => {
  progress(`memory: ${MEMORY_RUNS} fresh processes per library at ${SMALL} breakers`)
  const samples: Array<MemorySample> = []
  for (let run = 0; run < MEMORY_RUNS; run++) {
    for (const kind of KINDS) samples.push(await spawnChild<MemorySample>(["idle", kind, String(SMALL)]))
    progress(`  run ${run + 1}/${MEMORY_RUNS} done`)
  }
  const skipped = new Map<MemoryKind, number>()
  for (const kind of KINDS) {
    const mb = projectedMB(samples, kind)
    if (mb > MEMORY_BUDGET_MB) skipped.set(kind, mb)
  }
  progress(`memory: ${MEMORY_RUNS_LARGE} fresh process(es) per library at ${LARGE} breakers`)
  for (let run = 0; run < MEMORY_RUNS_LARGE; run++) {
    for (const kind of KINDS) {
      if (skipped.has(kind)) continue
      samples.push(await spawnChild<MemorySample>(["idle", kind, String(LARGE)]))
      progress(`  ${kind} done`)
    }
  }
  progress(`growth: ${CALLS} calls through one breaker, fresh process`)
  const growth = await spawnChild<GrowthSample>(["growth", String(CALLS)])
  return { samples, skipped, growth }
}

const printSpeed = (print: Print, speed: SpeedResult): void => {
  print(
    `## Per call: ${ROUNDS} interleaved rounds, n calibrated to ~${ROUND_MS} ms per round, full GC before each measurement`
  )
  print("Each cell: median over rounds (min–max). × and Δ are taken per round against the floor of the same round.")
  print()
  print(speedTable(speed))
  print()
}

const printGrowth = (print: Print, growth: GrowthSample): void => {
  const lastPoint = growth.points.at(-1)!
  const warmPoint = growth.points.find((p) => p.calls === WARMUP) ?? growth.points[0]!
  print(`## Heap over ${lastPoint.calls} calls through one Promise-API breaker (fresh process, after forced GC)`)
  print(
    `Default options but retryDelay 1 ms; ${growth.failedAttempts} failed attempts mixed in; lastFailures holds ${growth.lastFailures}; totalCalls ${growth.totalCalls}; ${num(growth.seconds)} s.`
  )
  print("data = heapUsed without the code spaces + ArrayBuffers; code = the code spaces (JIT-compiled code).")
  print()
  print(
    table(
      ["calls", "data KB", "code KB", "total KB", `Δ total KB vs ${WARMUP} calls`],
      growth.points.map((p) => [
        String(p.calls),
        num(p.data / 1024),
        num(p.code / 1024),
        num((p.data + p.code) / 1024),
        p.calls < WARMUP ? "" : num((p.data + p.code - warmPoint.data - warmPoint.code) / 1024)
      ]),
      ["r", "r", "r", "r", "r"]
    )
  )
  print()
}

const printMemory = (print: Print, { samples, skipped, growth }: MemoryResult): void => {
  print("## Memory per idle breaker: a fresh process per (library, count, run), after forced GC")
  print("Each cell: median over runs (min–max). total = heapUsed + ArrayBuffer backing stores (outside the JS heap).")
  print()
  print(memoryTable(samples, skipped))
  print()
  printGrowth(print, growth)
}

/** A section's lines, under `heading` when given, followed by an empty line. */
const printSection = (print: Print, heading: string | undefined, lines: ReadonlyArray<string>): void => {
  for (const line of [...(heading === undefined ? [] : [heading, ""]), ...lines, ""]) print(line)
}

const main = async (): Promise<void> => {
  checkEnvironment()
  const startedAt = Date.now()
  const out: Array<string> = []
  const print: Print = (line = "") => {
    out.push(line)
    console.log(line)
  }

  print("# circuit-breaker benchmark")
  print()
  for (const line of machineLines()) print(line)
  print()

  let speed: SpeedResult | undefined
  if (runs("speed")) {
    progress(`timing: ${ROUNDS} interleaved rounds, ~${ROUND_MS} ms per contender per round`)
    const { runSpeed } = await import("./speed.js")
    speed = await runSpeed(ROUNDS, ROUND_MS, progress)
  }
  const memory = runs("memory") ? await measureMemory() : undefined
  // Loaded only when it runs: the memory children import this file, and must not load the Redis code.
  const redis = runs("redis") ? await (await import("./redisMode.js")).measureRedisMode(progress) : undefined
  const monitor = runs("monitor") ? await (await import("./monitor.js")).measureMonitor(progress) : undefined

  if (speed !== undefined) printSpeed(print, speed)
  if (memory !== undefined) printMemory(print, memory)
  if (redis !== undefined) printSection(print, "## Redis mode (item 6)", redis.lines)
  const startup = runs("startup") ? await (await import("./startup.js")).measureStartup(progress) : undefined
  if (startup !== undefined) printSection(print, undefined, startup.lines)
  const policies = runs("policies") ? await (await import("./policies.js")).measurePolicies(progress) : undefined
  if (policies !== undefined) printSection(print, "## Policies (issue 11)", policies.lines)
  if (monitor !== undefined) printSection(print, "## Monitor (issue 13)", monitor.lines)
  const targets: Array<Target> = [
    ...(speed === undefined ? [] : speedTargets(speed)),
    ...(memory === undefined ? [] : memoryTargets(memory.samples, memory.skipped, memory.growth)),
    ...(redis?.targets ?? []),
    ...(startup?.targets ?? []),
    ...(monitor?.targets ?? []),
    ...(policies?.targets ?? [])
  ]
  if (targets.length > 0) {
    print("## Targets (issue 5; item 6: Redis mode; issue 14: Effect ratios, import, bundle)")
    print()
    print(targetTable(targets))
    print()
  }
  print(`Finished in ${num((Date.now() - startedAt) / 1000)} s.`)
}

const args = process.argv.slice(2)
const program = args[0] === "--child" ? child(args.slice(1)) : main()
program.catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
