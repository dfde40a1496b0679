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
import { type Api, CHANNEL, type FromWorker, type LoopDelay, type ToWorker, type WorkerSettings } from "./protocol.js"
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

const workerScript = fileURLToPath(new URL("./worker.ts", import.meta.url))
const progress = (line: string) => process.stderr.write(`scale: ${line}\n`)
/** The least time between the processes' readiness and the measurement. */
const WARM_UP_MS = 5_000
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
  /** From the trip to the announcement reaching a watching process (on its plain subscriber). */
  readonly announced: ReadonlyArray<number>
  /** The floor: from a plain PUBLISH in the tripping process to that same subscriber. */
  readonly floor: ReadonlyArray<number>
  readonly missed: number
  /** Each watching process's event-loop delay while the trips were timed. */
  readonly watcherDelay: ReadonlyArray<LoopDelay>
}

interface Worker {
  readonly child: Child
  /** Circuits this worker watches now. */
  readonly watching: Set<string>
  /** When this worker tripped a circuit, or first read it open; or `null`: it never read it open. */
  readonly seen: Map<string, number | null>
  /** When the announcement of a circuit it read open reached it. */
  readonly heard: Map<string, number>
  /** When the floor's message of a circuit reached it (watchers), or was published (the tripping process). */
  readonly floor: Map<string, number>
  memory?: (report: { rss: number; heapUsed: number; loopDelay: LoopDelay }) => void
}

const startWorkers = async (running: RunningTarget, api: Api): Promise<Array<Worker>> => {
  const workerSettings: WorkerSettings = { api, target: running.target, circuits: settings.circuits }
  return Promise.all(
    Array.from({ length: settings.processes }, async () => {
      const worker = { watching: new Set(), seen: new Map(), heard: new Map(), floor: new Map() } as Omit<
        Worker,
        "child"
      > as Worker
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
    case "opened":
      if (m.heard !== undefined) worker.heard.set(m.circuit, m.heard)
      if (m.floorHeard !== undefined) worker.floor.set(m.circuit, m.floorHeard)
      worker.watching.delete(m.circuit)
      return void worker.seen.set(m.circuit, m.at)
    case "floorSent":
      return void worker.floor.set(m.circuit, m.at)
    case "tripped":
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
  new Promise<{ rss: number; heapUsed: number; loopDelay: LoopDelay }>((resolve) => {
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
  const announced: Array<number> = []
  const floor: Array<number> = []
  let missed = 0
  for (let i = 0; i < settings.trips; i++) {
    const circuit = `circuit-${i}`
    for (const watcher of watchers) send(watcher, { _tag: "watch", circuit: i })
    if (!(await until(() => watchers.every((w) => w.watching.has(circuit) || w.seen.has(circuit)), 10_000))) {
      throw new Error(`${circuit}: the watchers did not start watching within 10 s`)
    }
    // The floor first, while the watchers already read the circuit: a plain PUBLISH that every one of them hears.
    send(tripper!, { _tag: "floor", circuit: i })
    await until(() => tripper!.floor.has(circuit), 10_000)
    await sleep(20)
    send(tripper!, { _tag: "trip", circuit: i })
    // A watcher gives up after 3 s.
    await until(() => workers.every((w) => w.seen.has(circuit)), 10_000)
    const tripped = tripper!.seen.get(circuit)
    for (const watcher of watchers) {
      const at = watcher.seen.get(circuit)
      // Read open before the trip, or never: not a propagation.
      if (tripped == null || at == null || at < tripped) missed++
      else samples.push(at - tripped)
      const heard = watcher.heard.get(circuit)
      if (tripped != null && heard !== undefined && heard >= tripped) announced.push(heard - tripped)
      const floorSent = tripper!.floor.get(circuit)
      const floorHeard = watcher.floor.get(circuit)
      if (floorSent !== undefined && floorHeard !== undefined) floor.push(floorHeard - floorSent)
    }
    await sleep(50)
  }
  return { samples, announced, floor, missed }
}

/** The servers' commands per second over the next `ms`. */
const commandRate = async (running: RunningTarget, ms: number): Promise<number> => {
  const before = await sumOver(running, commandsServed)
  await sleep(ms)
  return ((await sumOver(running, commandsServed)) - before) / (ms / 1_000)
}

/**
 * Waits for the steady state: at least the warm-up, then until two 1-s windows of the servers' command rate are
 * within 20 % of each other (the processes' first reads of their circuits, and their reconnections, are over), for
 * at most a minute.
 */
const steadyState = async (running: RunningTarget): Promise<void> => {
  await sleep(WARM_UP_MS)
  let last = await commandRate(running, 1_000)
  for (let windows = 0; windows < 60; windows++) {
    const next = await commandRate(running, 1_000)
    if (Math.abs(next - last) <= 0.2 * Math.max(last, settings.processes)) return
    last = next
  }
  progress("the command rate did not settle within a minute: measuring anyway")
}

const measure = async (start: () => Promise<RunningTarget>, api: Api): Promise<Row> => {
  const running = await start()
  try {
    const baseline = await sumOver(running, usedMemory)
    progress(`${running.label}, ${api} API: starting ${settings.processes} × ${settings.circuits} circuits`)
    const workers = await startWorkers(running, api)
    await steadyState(running)
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
    for (const worker of workers) send(worker, { _tag: "measureDelay" })
    const { samples, announced, floor, missed } = await tripPropagation(workers)
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
      announced,
      floor,
      missed,
      watcherDelay: memory.slice(1).map((m) => m.loopDelay)
    }
  } finally {
    await running.stop()
  }
}

/** The watchers' event-loop delay: the median of their p50s and of their p99s, and the largest delay of any. */
const delayCell = (delays: ReadonlyArray<LoopDelay>): string =>
  `${fmt(median(delays.map((d) => d.p50)))} / ${fmt(median(delays.map((d) => d.p99)))} / ` +
  fmt(Math.max(...delays.map((d) => d.max)))

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
      "trip propagation p50 / p99 / max (ms): first read open in another process",
      "of which the announcement reached that process (ms): p50 / p99",
      "floor: a plain PUBLISH from process 0 to the same subscriber (ms): p50 / p99 / max",
      "watchers' event-loop delay during the trips (ms): p50 / p99 / max"
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
        ` (${r.propagation.length} samples${r.missed > 0 ? `, ${r.missed} not seen open in time` : ""})`,
      `${fmt(median(r.announced))} / ${fmt(quantile(r.announced, 0.99))}`,
      `${fmt(median(r.floor))} / ${fmt(quantile(r.floor, 0.99))} / ${fmt(Math.max(...r.floor))}`,
      delayCell(r.watcherDelay)
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
      `Measured over ${settings.measureSeconds} s once the command rate settled (after ${WARM_UP_MS / 1_000} s of ` +
        `warm-up at least); ${settings.trips} trips from process 0, each watched by every other process reading ` +
        "the circuit's state about once a millisecond. Event-loop delay: perf_hooks.monitorEventLoopDelay in each " +
        "watching process while the trips were timed (median over the processes of p50 and of p99, and the largest). " +
        "Floor: 20 ms before each trip, process 0 publishes the circuit's name with a plain PUBLISH (on the cluster, " +
        "on another master than the watchers' subscriber's), timed to the same subscriber: pub/sub on this machine " +
        "with no store on either side.",
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
