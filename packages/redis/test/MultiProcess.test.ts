/**
 * Several Node processes share one circuit through one Redis: each child process (`fixtures/worker.ts`, run from the
 * TypeScript sources with tsx) holds Promise-API breakers with `distributedTracking`, and this test drives them over
 * IPC. Times that cross processes are `process.hrtime.bigint()` (CLOCK_MONOTONIC, one clock for the whole machine).
 */
import { type ChildProcess, fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, expect, it } from "vitest"
import type { Outcome, Ready, Reply, Request, Seen, StateReport, TrialReport } from "./fixtures/worker.js"
import { PATIENCE, totalOf } from "./utils/busyMachine.js"
import { describeWithRedis, isProcessAlive, type RedisServer, startRedisServer } from "./utils/RedisServer.js"

const CHILDREN = 3
const workerPath = fileURLToPath(new URL("./fixtures/worker.ts", import.meta.url))
const repoRoot = fileURLToPath(new URL("../../..", import.meta.url))

/**
 * Pub/sub brings a trip to every process within this (loopback, idle machine: ~1-5 ms; the rest is tolerance),
 * counting only the time the processes on the path could run (see `propagation`).
 */
const PROPAGATION_LIMIT_MS = 100

/**
 * How long a worker may take to start (not something these tests assert): it loads the TypeScript sources through
 * tsx, seconds of CPU that a loaded machine shares with everything else.
 */
const START_ALLOWANCE = 6 * PATIENCE

/**
 * These tests are not about timeouts: a store timeout a loaded machine does not reach (a timed-out read would make a
 * process decide alone, as while Redis is away).
 */
const ROOMY_STORE = { storeTimeout: 2_000 }

/** A request without its id. */
type WithoutId<R> = R extends unknown ? Omit<R, "id"> : never
type Command = WithoutId<Request>

interface Worker {
  readonly name: string
  readonly child: ChildProcess
  readonly pid: number
  request<A>(command: Command, within?: number): Promise<A>
}

/** Every child started by this file, killed by pid when it ends, even if a test or a hook failed. */
const live = new Set<ChildProcess>()
const killAllSync = () => {
  for (const child of live) {
    try {
      child.kill("SIGKILL")
    } catch {
      // already gone
    }
  }
}
process.on("exit", killAllSync)

const spawnWorker = (name: string, url: string): Promise<Worker> =>
  new Promise((resolve, reject) => {
    const child = fork(workerPath, [url], {
      cwd: repoRoot,
      execArgv: ["--import", "tsx", "--conditions=source"],
      stdio: ["ignore", "pipe", "pipe", "ipc"]
    })
    live.add(child)
    let output = ""
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-8_192)
    }
    child.stdout!.on("data", collect)
    child.stderr!.on("data", collect)
    const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
    let nextId = 1
    const startTimer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`worker ${name} not ready within ${START_ALLOWANCE} ms:\n${output}`))
    }, START_ALLOWANCE)
    child.once("exit", (code, signal) => {
      live.delete(child)
      clearTimeout(startTimer)
      const error = new Error(`worker ${name} exited (${code ?? signal}):\n${output}`)
      for (const { reject: fail } of pending.values()) fail(error)
      pending.clear()
      reject(error)
    })
    child.on("message", (message: Reply | Ready) => {
      if ("ready" in message) {
        clearTimeout(startTimer)
        resolve({
          name,
          child,
          pid: message.pid,
          request: <A>(command: Command, within = 2 * PATIENCE) =>
            new Promise<A>((resolveReply, rejectReply) => {
              const id = nextId++
              const timer = setTimeout(() => {
                pending.delete(id)
                rejectReply(new Error(`worker ${name}: no reply to ${command.cmd} within ${within} ms`))
              }, within)
              pending.set(id, {
                resolve: (value) => {
                  clearTimeout(timer)
                  resolveReply(value as A)
                },
                reject: (error) => {
                  clearTimeout(timer)
                  rejectReply(error)
                }
              })
              child.send({ ...command, id } as Request)
            })
        })
        return
      }
      const waiting = pending.get(message.id)
      if (waiting === undefined) return
      pending.delete(message.id)
      if (message.ok) waiting.resolve(message.result)
      else waiting.reject(new Error(`worker ${name}: ${message.error}`))
    })
  })

/** Asks the child to exit; SIGKILL if it has not within 2 s. Resolves once it is gone. */
const stopWorker = async (worker: Worker): Promise<void> => {
  const { child } = worker
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const timer = setTimeout(() => child.kill("SIGKILL"), 2_000)
  try {
    if (child.connected) child.send({ id: 0, cmd: "exit" } satisfies Request)
  } catch {
    child.kill("SIGKILL")
  }
  await exited
  clearTimeout(timer)
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `check` until it holds, for at most `within` ms. */
const eventually = async (check: () => Promise<boolean>, within: number, what: string): Promise<number> => {
  const start = Date.now()
  for (;;) {
    if (await check()) return Date.now() - start
    if (Date.now() - start > within) throw new Error(`${what}: not within ${within} ms`)
    await sleep(10)
  }
}

interface Propagation {
  /** Milliseconds from the first process that saw the state to this one. */
  readonly measured: number
  /** The same, less the time a process on the path could not run (their stalls, merged). */
  readonly running: number
}

/**
 * How long the state each worker saw (`seen`, in the order of `workers`) took to reach it from the first. On the
 * path: the worker itself (it reads the announcement and polls its state) and, when the trip was local to one
 * process (`trippedLocally`, which writes it to Redis after it saw it), that process.
 */
const propagation = async (
  workers: ReadonlyArray<Worker>,
  seen: ReadonlyArray<Seen>,
  trippedLocally?: Worker
): Promise<Array<Propagation>> => {
  const times = seen.map((s) => BigInt(s.at))
  const first = times.reduce((earliest, t, i) => (t < times[earliest]! ? i : earliest), 0)
  const from = seen[first]!.atMs
  const to = Math.max(...seen.map((s) => s.atMs))
  // A stall is seen when it ends: give the samplers a moment.
  await sleep(20)
  const stalls = await Promise.all(
    workers.map((w) => w.request<Array<readonly [number, number]>>({ cmd: "stalls", from, to }))
  )
  return seen.map((s, i) => {
    const measured = Number(times[i]! - times[first]!) / 1e6
    const writer = trippedLocally === undefined ? [] : stalls[workers.indexOf(trippedLocally)]!
    const onPath = [...writer, ...stalls[i]!].map(([start, end]) => [start, Math.min(end, s.atMs)] as const)
    return { measured, running: Math.max(0, measured - totalOf(onPath.filter(([start, end]) => end > start))) }
  })
}

const describePropagation = (workers: ReadonlyArray<Worker>, lags: ReadonlyArray<Propagation>) =>
  workers
    .map((w, i) => `${w.name} +${lags[i]!.measured.toFixed(1)} ms (${lags[i]!.running.toFixed(1)} ms running)`)
    .join(", ")

describeWithRedis("several processes share one circuit through one Redis", () => {
  let server: RedisServer
  let workers: Array<Worker> = []
  const all = <A>(f: (worker: Worker) => Promise<A>): Promise<Array<A>> => Promise.all(workers.map(f))
  const states = (circuit: string) => all((w) => w.request<StateReport>({ cmd: "state", circuit }))

  beforeAll(async () => {
    server = await startRedisServer()
    const started = await Promise.allSettled(
      Array.from({ length: CHILDREN }, (_, i) => spawnWorker(String.fromCharCode(65 + i), server.url))
    )
    workers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []))
    const failed = started.find((s) => s.status === "rejected")
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
  }, START_ALLOWANCE + PATIENCE)

  afterAll(async () => {
    await Promise.all(workers.map(stopWorker))
    killAllSync()
    await server?.stop()
    // No child outlives the file.
    for (const worker of workers) expect(isProcessAlive(worker.pid)).toBe(false)
  }, 15_000)

  it("failures from several processes add up; the trip reaches every process within milliseconds", async () => {
    const circuit = "payments"
    const [a, b, c] = workers as [Worker, Worker, Worker]
    await all((w) =>
      w.request({ cmd: "make", circuit, options: { failureThreshold: 6, resetTimeout: 60_000, store: ROOMY_STORE } })
    )

    // A and B fail twice each: Redis holds 4 failures, under the threshold; no process is open.
    expect(await a.request<Array<Outcome>>({ cmd: "fail", circuit, n: 2 })).toEqual(["failed", "failed"])
    expect(await b.request<Array<Outcome>>({ cmd: "fail", circuit, n: 2 })).toEqual(["failed", "failed"])
    await eventually(
      async () => {
        const [s] = await states(circuit)
        return "state" in s!.shared && s!.shared.failureCount === 4
      },
      PATIENCE,
      "4 failures in Redis"
    )
    for (const s of await states(circuit)) expect(s.local).toBe("CLOSED")

    // Every process watches for OPEN; C's two failures make 6 in Redis, and the circuit trips there (announced to
    // every process at once).
    const watching = all((w) => w.request<Seen>({ cmd: "watch", circuit, state: "OPEN", within: PATIENCE }))
    await sleep(20)
    expect(await c.request<Array<Outcome>>({ cmd: "fail", circuit, n: 2 })).toEqual(["failed", "failed"])
    const lags = await propagation(workers, await watching)
    console.log(
      `trip propagation: ${describePropagation(workers, lags)} ` +
        `(from the first process that saw OPEN; limit ${PROPAGATION_LIMIT_MS} ms running)`
    )
    for (const lag of lags) expect(lag.running).toBeLessThanOrEqual(PROPAGATION_LIMIT_MS)

    // Every process now rejects without calling its function, and Redis holds OPEN.
    expect(await all((w) => w.request<Outcome>({ cmd: "call", circuit }))).toEqual(["open", "open", "open"])
    for (const s of await states(circuit)) expect(s).toMatchObject({ local: "OPEN", shared: { state: "OPEN" } })
  })

  it("Half-Open admits at most successThreshold trials across all processes together", async () => {
    const circuit = "trials"
    const successThreshold = 2
    const resetTimeout = 800
    const [a] = workers as [Worker]
    await all((w) =>
      w.request({
        cmd: "make",
        circuit,
        options: { failureThreshold: 1, successThreshold, resetTimeout, store: ROOMY_STORE }
      })
    )
    const watching = all((w) => w.request<Seen>({ cmd: "watch", circuit, state: "OPEN", within: PATIENCE }))
    expect(await a.request<Array<Outcome>>({ cmd: "fail", circuit, n: 1 })).toEqual(["failed"])
    await watching
    await sleep(resetTimeout + 100)

    // Three processes each start three calls at once; each call hangs once admitted.
    const trials = await all((w) => w.request<TrialReport>({ cmd: "trial", circuit, n: 3 }))
    const admitted = trials.reduce((n, t) => n + t.admitted, 0)
    const rejected = trials.reduce((n, t) => n + t.rejected, 0)
    console.log(
      "trials:",
      workers.map((w, i) => `${w.name} admitted ${trials[i]!.admitted}, rejected ${trials[i]!.rejected}`).join("; ")
    )
    expect(trials.every((t) => t.other === 0)).toBe(true)
    expect(admitted).toBeGreaterThanOrEqual(1)
    expect(admitted).toBeLessThanOrEqual(successThreshold)
    expect(admitted + rejected).toBe(3 * CHILDREN)
    // While they run, every other call is rejected, in every process.
    expect(await all((w) => w.request<Outcome>({ cmd: "call", circuit }))).toEqual(["open", "open", "open"])

    // The trials succeed: once successThreshold of them have, the circuit closes everywhere.
    const released = await all((w) => w.request<Array<Outcome>>({ cmd: "release", circuit }))
    expect(released.flat().filter((o) => o === "ok")).toHaveLength(admitted)
    if (admitted === successThreshold) {
      await all((w) => w.request<Seen>({ cmd: "watch", circuit, state: "CLOSED", within: PATIENCE }))
      for (const s of await states(circuit)) expect(s).toMatchObject({ local: "CLOSED", shared: { state: "CLOSED" } })
    }
  })

  it("Redis killed and restarted empty: the processes converge to one shared state again", async () => {
    const circuit = "inventory"
    const [a, b] = workers as [Worker, Worker]
    await all((w) =>
      w.request({ cmd: "make", circuit, options: { failureThreshold: 3, resetTimeout: 60_000, store: ROOMY_STORE } })
    )
    expect(await all((w) => w.request<Outcome>({ cmd: "call", circuit }))).toEqual(["ok", "ok", "ok"])

    await server.kill()
    // Calls go on, decided on each process's local view; a trip now stays where it happened.
    expect(await all((w) => w.request<Outcome>({ cmd: "call", circuit }))).toEqual(["ok", "ok", "ok"])
    expect(await a.request<Array<Outcome>>({ cmd: "fail", circuit, n: 3 })).toEqual(["failed", "failed", "failed"])
    const apart = await states(circuit)
    expect(apart.map((s) => s.local)).toEqual(["OPEN", "CLOSED", "CLOSED"])
    for (const s of apart) expect(s.shared).toHaveProperty("error")

    await server.restart()
    // Every process reaches the new (empty) server again, and all agree with what it holds.
    const converged = await eventually(
      async () => {
        const now = await states(circuit)
        const shared = now.map((s) => ("state" in s.shared ? s.shared.state : "unreachable"))
        return shared.every((s) => s !== "unreachable" && s === shared[0]) && now.every((s) => s.local === shared[0])
      },
      PATIENCE,
      "one shared state after the restart"
    )
    const agreed = (await states(circuit))[0]!.local
    console.log(`after the restart: every process ${agreed} (Redis too) within ${converged} ms`)

    // From that common state, B resets and trips the circuit: the trip reaches A and C through the new server.
    await b.request({ cmd: "reset", circuit })
    await all((w) => w.request<Seen>({ cmd: "watch", circuit, state: "CLOSED", within: PATIENCE }))
    const watching = all((w) => w.request<Seen>({ cmd: "watch", circuit, state: "OPEN", within: PATIENCE }))
    await sleep(20)
    expect(await b.request<Array<Outcome>>({ cmd: "fail", circuit, n: 3 })).toEqual(["failed", "failed", "failed"])
    // B's own three failures trip it; it writes the trip then.
    const lags = await propagation(workers, await watching, b)
    console.log(`trip after the restart: ${describePropagation(workers, lags)}`)
    for (const lag of lags) expect(lag.running).toBeLessThanOrEqual(PROPAGATION_LIMIT_MS)
    expect(await all((w) => w.request<Outcome>({ cmd: "call", circuit }))).toEqual(["open", "open", "open"])
    for (const s of await states(circuit)) expect(s).toMatchObject({ local: "OPEN", shared: { state: "OPEN" } })
  })
})
