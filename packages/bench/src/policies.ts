/**
 * The policies of issue 11, same run, same rounds: the Promise API's closed-circuit overhead
 * with a count window (100 calls, `minimumNumberOfCalls` 20) next to opossum's defaults (a
 * rolling window), the same with a bulkhead of 10 next to cockatiel's bulkhead + breaker
 * composition (a count breaker of 100), and the heap per idle breaker with the window, in
 * fresh child processes (this file, `--policies-idle-child`), against opossum's.
 *
 * Environment: BENCH_POLICY_ROUNDS (default 15), BENCH_POLICY_ROUND_MS (default 200),
 * BENCH_POLICY_IDLE (breakers per memory child, default 10000), BENCH_POLICY_MEMORY_RUNS
 * (children per library, default 3).
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { createAdvancedCircuitBreaker, type Options } from "@circuit-breaker/promise"
import { bulkhead, CountBreaker, circuitBreaker, handleAll, wrap } from "cockatiel"
import Opossum from "opossum"
import { envInt } from "./env.js"
import { num, range, summarize, type Target, table } from "./stats.js"
import { calibrate, measure } from "./timing.js"

export interface PolicyResult {
  readonly lines: ReadonlyArray<string>
  readonly targets: ReadonlyArray<Target>
}

const ROUNDS = envInt("BENCH_POLICY_ROUNDS", 15)
const ROUND_MS = envInt("BENCH_POLICY_ROUND_MS", 200)
const IDLE = envInt("BENCH_POLICY_IDLE", 10_000)
const MEMORY_RUNS = envInt("BENCH_POLICY_MEMORY_RUNS", 3)
const CHILD_FLAG = "--policies-idle-child"
const HEAP_LIMIT_BYTES = 2048

const fn = async (): Promise<number> => 42
const gc = (): void => (globalThis as { gc?: () => void }).gc!()

/** The window of the benchmark rows. */
const windowOptions: Options = {
  failureRateThreshold: 50,
  slidingWindowType: "count",
  slidingWindowSize: 100,
  minimumNumberOfCalls: 20
}

const ids = ["direct", "oursWindow", "opossum", "oursBulkhead", "cockatielBulkhead"] as const
type Id = (typeof ids)[number]

const label: Record<Id, string> = {
  direct: "floor: `await fn()`",
  oursWindow: "ours `execute()`, count window 100, minimumNumberOfCalls 20",
  opossum: "opossum `fire()`, defaults (rolling window)",
  oursBulkhead: "ours, the same window and `maxConcurrent: 10`",
  cockatielBulkhead: "cockatiel `wrap(bulkhead(10), circuitBreaker(CountBreaker(100)))`"
}

const loop =
  (call: () => Promise<unknown>) =>
  (n: number): (() => Promise<void>) =>
  async () => {
    for (let i = 0; i < n; i++) await call()
  }

const fixture = () => {
  const oursWindow = createAdvancedCircuitBreaker(fn, { name: "bench-window", ...windowOptions })
  const oursBulkhead = createAdvancedCircuitBreaker(fn, { name: "bench-bulkhead", ...windowOptions, maxConcurrent: 10 })
  const opossum = new Opossum(fn)
  const cockatiel = wrap(
    bulkhead(10),
    circuitBreaker(handleAll, {
      halfOpenAfter: 10_000,
      breaker: new CountBreaker({ threshold: 0.5, size: 100, minimumNumberOfCalls: 20 })
    })
  )
  const prepare: Record<Id, (n: number) => () => Promise<void>> = {
    direct: loop(fn),
    oursWindow: loop(() => oursWindow.execute()),
    opossum: loop(() => opossum.fire()),
    oursBulkhead: loop(() => oursBulkhead.execute()),
    cockatielBulkhead: loop(() => cockatiel.execute(fn))
  }
  const close = async () => {
    await oursWindow.dispose()
    await oursBulkhead.dispose()
    opossum.shutdown()
  }
  return { prepare, close }
}

const timeRounds = async (progress: (line: string) => void): Promise<Record<Id, Array<number>>> => {
  const { close, prepare } = fixture()
  try {
    const contenders = ids.map((id) => ({ id, prepare: prepare[id] }))
    const n = {} as Record<Id, number>
    for (let pass = 0; pass < 2; pass++) for (const c of contenders) n[c.id] = await calibrate(c, ROUND_MS)
    const perRound = Object.fromEntries(ids.map((id) => [id, [] as Array<number>])) as Record<Id, Array<number>>
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < contenders.length; k++) {
        const c = contenders[(k + r) % contenders.length]!
        perRound[c.id].push(await measure(c, n[c.id]))
      }
      progress(`  policies round ${r + 1}/${ROUNDS} done`)
    }
    return perRound
  } finally {
    await close()
  }
}

// --- memory per idle breaker, in a fresh process -----------------------------------------

type IdleKind = "ours-window" | "opossum"

const idleChild = (kind: IdleKind, count: number): number => {
  const create = (i: number) =>
    kind === "ours-window"
      ? createAdvancedCircuitBreaker(fn, { name: `idle-${i}`, ...windowOptions })
      : new Opossum(fn, { name: `idle-${i}` })
  const warm = create(-1)
  const breakers = new Array<unknown>(count).fill(0)
  gc()
  gc()
  const before = process.memoryUsage()
  for (let i = 0; i < count; i++) breakers[i] = create(i)
  gc()
  gc()
  const after = process.memoryUsage()
  const perBreaker = (after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers) / count
  for (const b of [warm, ...breakers]) {
    if (b instanceof Opossum) b.shutdown()
    else void (b as { dispose(): Promise<void> }).dispose()
  }
  return perBreaker
}

const spawnIdle = (kind: IdleKind): Promise<number> =>
  new Promise((resolve, reject) => {
    const execArgv = process.execArgv.includes("--expose-gc") ? process.execArgv : [...process.execArgv, "--expose-gc"]
    execFile(
      process.execPath,
      [...execArgv, fileURLToPath(import.meta.url), CHILD_FLAG, kind, String(IDLE)],
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`policies child ${kind} failed: ${error.message}\n${stderr}`))
        resolve(Number(stdout.trim().split("\n").at(-1)))
      }
    )
  })

// --- report ------------------------------------------------------------------------------

const perRoundOf = (rounds: Record<Id, Array<number>>, f: (t: (id: Id) => number) => number): ReadonlyArray<number> =>
  rounds.direct.map((_, r) => f((id) => rounds[id][r]!))

export const measurePolicies = async (progress: (line: string) => void): Promise<PolicyResult> => {
  progress(`policies: ${ROUNDS} interleaved rounds`)
  const rounds = await timeRounds(progress)
  progress(`policies: heap per idle breaker, ${MEMORY_RUNS} fresh processes per library`)
  const heap: Record<IdleKind, Array<number>> = { "ours-window": [], opossum: [] }
  for (let run = 0; run < MEMORY_RUNS; run++) {
    for (const kind of ["ours-window", "opossum"] as const) heap[kind].push(await spawnIdle(kind))
  }
  const overhead = (id: Id) => summarize(perRoundOf(rounds, (t) => t(id) - t("direct")))
  const ratio = (ours: Id, peer: Id) =>
    summarize(perRoundOf(rounds, (t) => (t(ours) - t("direct")) / (t(peer) - t("direct"))))
  const windowRatio = ratio("oursWindow", "opossum")
  const bulkheadRatio = ratio("oursBulkhead", "cockatielBulkhead")
  const oursHeap = summarize(heap["ours-window"])
  const opossumHeap = summarize(heap.opossum)
  const lines = [
    table(
      ["benchmark", "ns/call", "Δ ns vs `await fn()`"],
      ids.map((id) => [label[id], range(summarize(rounds[id])), id === "direct" ? "" : range(overhead(id))]),
      ["l", "r", "r"]
    ),
    "",
    `Heap per idle breaker (heapUsed + ArrayBuffers, ${IDLE} breakers, ${MEMORY_RUNS} processes): ours with the window ${range(oursHeap, " B")}, opossum ${range(opossumHeap, " B")}.`
  ]
  const targets: ReadonlyArray<Target> = [
    {
      name: "Policies: Promise closed, count window 100 / min 20: our overhead ≤ opossum's",
      measured: `ours ${range(overhead("oursWindow"), " ns")} vs opossum ${range(overhead("opossum"), " ns")}`,
      limit: "ratio ≤ 1",
      ratio: range(windowRatio),
      pass: windowRatio.median <= 1
    },
    {
      name: "Policies: with a bulkhead of 10, our overhead ≤ cockatiel's bulkhead + breaker",
      measured: `ours ${range(overhead("oursBulkhead"), " ns")} vs cockatiel ${range(overhead("cockatielBulkhead"), " ns")}`,
      limit: "ratio ≤ 1",
      ratio: range(bulkheadRatio),
      pass: bulkheadRatio.median <= 1
    },
    {
      name: "Policies: heap per idle breaker with the count window ≤ 2 KB",
      measured: `ours ${num(oursHeap.median)} B vs opossum ${num(opossumHeap.median)} B`,
      limit: `≤ ${HEAP_LIMIT_BYTES} B`,
      ratio: num(oursHeap.median / HEAP_LIMIT_BYTES),
      pass: oursHeap.median <= HEAP_LIMIT_BYTES
    }
  ]
  return { lines, targets }
}

if (process.argv[2] === CHILD_FLAG) {
  process.stdout.write(`${idleChild(process.argv[3] as IdleKind, Number(process.argv[4]))}\n`)
}
