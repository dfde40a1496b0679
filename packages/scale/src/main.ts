/**
 * `npm run scale`: SCALE_PROCESSES Node processes (default 8) × SCALE_CIRCUITS circuits (default 1,000), every circuit
 * called once a second, against one redis-server and against a 3-master Redis Cluster started here, through the
 * Promise API and through the Effect API. Prints a Markdown table with the machine and date: server commands/s (from
 * INFO commandstats), connections, RSS and heap per process, Redis used_memory per circuit, and trip propagation
 * across processes (from the trip to the first state read that shows it open in another process, as a call then
 * would be rejected; each watching process reads the state about once a millisecond). SCALE_TARGETS (`single,cluster`), SCALE_APIS (`promise,effect`), SCALE_MEASURE_SECONDS (10) and
 * SCALE_TRIPS (20) narrow or lengthen it.
 */
import { fileURLToPath } from "node:url"
import { type Child, startChild } from "@circuit-breaker/soak/children"
import { describeMachine } from "@circuit-breaker/soak/machine"
import { fmt, median, quantile, table } from "@circuit-breaker/soak/stats"
import type { Api, FromWorker, ToWorker, WorkerSettings } from "./protocol.js"
import {
  commandsServed,
  connections,
  cpuSeconds,
  type RunningTarget,
  startCluster,
  startSingle,
  subscribers,
  sumOver,
  usedMemory
} from "./targets.js"

/** The store's change channel, under the default prefix. */
const CHANNEL = "cb:v1:events"
const workerScript = fileURLToPath(new URL("./worker.ts", import.meta.url))
const progress = (line: string) => process.stderr.write(`scale: ${line}\n`)
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const intFromEnv = (name: string, fallback: number): number => {
  const value = Number(process.env[name] || fallback)
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`)
  return value
}
const listFromEnv = (name: string, fallback: string) => (process.env[name] || fallback).split(",").map((s) => s.trim())

const settings = {
  processes: intFromEnv("SCALE_PROCESSES", 8),
  circuits: intFromEnv("SCALE_CIRCUITS", 1_000),
  measureSeconds: intFromEnv("SCALE_MEASURE_SECONDS", 10),
  trips: intFromEnv("SCALE_TRIPS", 20),
  targets: listFromEnv("SCALE_TARGETS", "single,cluster"),
  apis: listFromEnv("SCALE_APIS", "promise,effect") as ReadonlyArray<Api>
}

interface Row {
  readonly target: string
  readonly api: Api
  readonly commandsPerSecond: number
  /** Share of one core the servers used, summed over the servers, while commands were counted. */
  readonly serverCpu: number
  readonly connections: number
  /** Subscribers to the change channel: the messages one trip fans out to. */
  readonly fanOut: number
  /** used_memory while the processes were connected, less after they left, per connection. */
  readonly bytesPerConnection: number
  readonly rss: ReadonlyArray<number>
  readonly heap: ReadonlyArray<number>
  readonly bytesPerCircuit: number
  readonly propagation: ReadonlyArray<number>
  readonly missed: number
}

interface Worker {
  readonly child: Child
  /** Circuits this worker watches now. */
  readonly watching: Set<string>
  /** When this worker tripped a circuit, or first read it open; or `null`: it never read it open. */
  readonly seen: Map<string, number | null>
  memory?: (report: { rss: number; heapUsed: number }) => void
}

const startWorkers = async (running: RunningTarget, api: Api): Promise<Array<Worker>> => {
  const workerSettings: WorkerSettings = { api, target: running.target, circuits: settings.circuits }
  return Promise.all(
    Array.from({ length: settings.processes }, async () => {
      const worker = { watching: new Set(), seen: new Map() } as Omit<Worker, "child"> as Worker
      const child = await startChild(workerScript, [JSON.stringify(workerSettings)], {
        readyWithinMs: 300_000,
        onMessage: (message) => onMessage(worker, message as FromWorker)
      })
      return Object.assign(worker, { child })
    })
  )
}

const onMessage = (worker: Worker, m: FromWorker) => {
  switch (m._tag) {
    case "watching":
      return void worker.watching.add(m.circuit)
    case "tripped":
    case "opened":
      worker.watching.delete(m.circuit)
      return void worker.seen.set(m.circuit, m.at)
    case "unseen":
      worker.watching.delete(m.circuit)
      return void worker.seen.set(m.circuit, null)
    case "memory":
      return worker.memory?.(m)
  }
}

const send = (worker: Worker, message: ToWorker) => worker.child.process.send(message)

/** Waits until `done` holds, checking every 2 ms, for at most `withinMs`. */
const until = async (done: () => boolean, withinMs: number): Promise<boolean> => {
  const deadline = Date.now() + withinMs
  while (!done()) {
    if (Date.now() > deadline) return false
    await sleep(2)
  }
  return true
}

const memoryOf = (worker: Worker) =>
  new Promise<{ rss: number; heapUsed: number }>((resolve) => {
    worker.memory = resolve
    send(worker, { _tag: "memory" })
  })

/**
 * Process 0 trips circuits one by one. Before each trip every other process starts watching that circuit; each
 * propagation sample is the moment a watcher first read it open less the moment process 0 tripped it.
 */
const tripPropagation = async (workers: ReadonlyArray<Worker>) => {
  const [tripper, ...watchers] = workers
  const samples: Array<number> = []
  let missed = 0
  for (let i = 0; i < settings.trips; i++) {
    const circuit = `circuit-${i}`
    for (const watcher of watchers) send(watcher, { _tag: "watch", circuit: i })
    if (!(await until(() => watchers.every((w) => w.watching.has(circuit) || w.seen.has(circuit)), 10_000))) {
      throw new Error(`${circuit}: the watchers did not start watching within 10 s`)
    }
    send(tripper!, { _tag: "trip", circuit: i })
    // A watcher gives up after 3 s.
    await until(() => workers.every((w) => w.seen.has(circuit)), 10_000)
    const tripped = tripper!.seen.get(circuit)
    for (const watcher of watchers) {
      const at = watcher.seen.get(circuit)
      // Read open before the trip, or never: not a propagation.
      if (tripped == null || at == null || at < tripped) missed++
      else samples.push(at - tripped)
    }
    await sleep(50)
  }
  return { samples, missed }
}

const measure = async (start: () => Promise<RunningTarget>, api: Api): Promise<Row> => {
  const running = await start()
  try {
    const baseline = await sumOver(running, usedMemory)
    progress(`${running.label}, ${api} API: starting ${settings.processes} × ${settings.circuits} circuits`)
    const workers = await startWorkers(running, api)
    await sleep(5_000)
    const before = await sumOver(running, commandsServed)
    const cpuBefore = await sumOver(running, cpuSeconds)
    const t0 = Date.now()
    await sleep(settings.measureSeconds * 1_000)
    const seconds = (Date.now() - t0) / 1_000
    const commandsPerSecond = ((await sumOver(running, commandsServed)) - before) / seconds
    const serverCpu = ((await sumOver(running, cpuSeconds)) - cpuBefore) / seconds
    const open = await sumOver(running, connections)
    const fanOut = await sumOver(running, (server) => subscribers(server, CHANNEL))
    const memoryConnected = await sumOver(running, usedMemory)
    const { samples, missed } = await tripPropagation(workers)
    const memory = await Promise.all(workers.map(memoryOf))
    await Promise.all(workers.map((w) => w.child.stop(10_000)))
    await sleep(500)
    const memoryLeft = await sumOver(running, usedMemory)
    const bytesPerCircuit = (memoryLeft - baseline) / settings.circuits
    return {
      target: running.label,
      api,
      commandsPerSecond,
      serverCpu,
      connections: open,
      fanOut,
      bytesPerConnection: (memoryConnected - memoryLeft) / Math.max(1, open),
      rss: memory.map((m) => m.rss / 2 ** 20),
      heap: memory.map((m) => m.heapUsed / 2 ** 20),
      bytesPerCircuit,
      propagation: samples,
      missed
    }
  } finally {
    await running.stop()
  }
}

const render = (rows: ReadonlyArray<Row>): string =>
  table(
    [
      "target",
      "API",
      "server commands/s",
      "per process",
      "server CPU (cores)",
      "connections",
      "bytes per connection",
      "trip fan-out (subscribers)",
      "RSS per process (MB, median/max)",
      "heap per process (MB, median/max)",
      "used_memory per circuit (B)",
      "trip propagation p50 / p99 / max (ms): first read open in another process"
    ],
    rows.map((r) => [
      r.target,
      r.api,
      fmt(r.commandsPerSecond),
      fmt(r.commandsPerSecond / settings.processes),
      r.serverCpu.toFixed(2),
      String(r.connections),
      // With few connections, the allocator's noise is larger than what they cost.
      r.connections >= 100 ? fmt(r.bytesPerConnection) : "–",
      String(r.fanOut),
      `${fmt(median(r.rss))} / ${fmt(Math.max(...r.rss))}`,
      `${fmt(median(r.heap))} / ${fmt(Math.max(...r.heap))}`,
      fmt(r.bytesPerCircuit),
      `${fmt(median(r.propagation))} / ${fmt(quantile(r.propagation, 0.99))} / ${fmt(Math.max(...r.propagation))}` +
        ` (${r.propagation.length} samples${r.missed > 0 ? `, ${r.missed} not seen open in time` : ""})`
    ])
  )

const main = async () => {
  const machine = describeMachine()
  const starts = { single: startSingle, cluster: startCluster } as const
  const rows: Array<Row> = []
  for (const target of settings.targets) {
    const start = starts[target as keyof typeof starts]
    if (start === undefined) throw new Error(`SCALE_TARGETS: unknown target ${JSON.stringify(target)}`)
    for (const api of settings.apis) rows.push(await measure(start, api))
  }
  process.stdout.write(
    [
      `## Scale: ${settings.processes} processes × ${settings.circuits} circuits, each called once a second`,
      "",
      ...machine.map((line) => `${line}  `),
      `Measured over ${settings.measureSeconds} s after 5 s of warm-up; ${settings.trips} trips from process 0, ` +
        "each watched by every other process reading the circuit's state about once a millisecond.",
      "",
      render(rows),
      ""
    ].join("\n")
  )
}

main().catch((error: unknown) => {
  progress(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  process.exitCode = 1
})
