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
 * c. Trip propagation to a second process: a child process (this file, forked with the same loader flags, importing
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
import { type ChildProcess, fork, spawn } from "node:child_process"
import { accessSync, constants, statSync } from "node:fs"
import { type AddressInfo, createServer, Socket } from "node:net"
import * as os from "node:os"
import { delimiter, join, resolve as resolvePath } from "node:path"
import { fileURLToPath } from "node:url"
import { type AdvancedCircuitBreaker, createAdvancedCircuitBreaker, type Options } from "@circuit-breaker/promise"
import { envInt } from "./env.js"
import { num, range, summarize, type Target, table } from "./stats.js"

export interface RedisModeResult {
  /** The section's text: tables and notes. */
  readonly lines: ReadonlyArray<string>
  /** Empty when nothing was measured (no redis-server). */
  readonly targets: ReadonlyArray<Target>
}

const ROUNDS = envInt("BENCH_REDIS_ROUNDS", 15)
const ROUND_MS = envInt("BENCH_REDIS_ROUND_MS", 400)
const TRIPS = envInt("BENCH_REDIS_TRIPS", 100)
const CALLERS = 100
const YIELD_EVERY = 100
const FAIL_EVERY = 1000
const THROUGHPUT_LIMIT = 0.8
const COMMANDS_LIMIT = 20
const PROPAGATION_LIMIT_MS = 10
const HOST = "127.0.0.1"
const CHILD_FLAG = "--redis-propagation-child"
const ONE_DAY = 24 * 60 * 60 * 1000
/** The commands the store's Lua scripts run inside Redis (packages/redis/src/internal/scripts.ts). */
const INSIDE_SCRIPTS = new Set(["time", "hmget", "hget", "hset", "pexpire", "publish"])

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const fn = async (): Promise<number> => 42

// --- redis-server ----------------------------------------------------------------------

const findOnPath = (name: string): string | undefined => {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      if (statSync(candidate).isFile()) return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

type RespValue = string | number | null

/** A minimal RESP2 client: one command at a time, replies that are not arrays. */
class Resp {
  private buffer = Buffer.alloc(0)
  private waiting: Array<{ resolve: (value: RespValue) => void; reject: (error: Error) => void }> = []

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk])
      for (;;) {
        const parsed = this.parse()
        if (parsed === undefined) return
        const waiter = this.waiting.shift()
        if (parsed instanceof Error) waiter?.reject(parsed)
        else waiter?.resolve(parsed)
      }
    })
    socket.on("error", (error) => this.failAll(error))
    socket.on("close", () => this.failAll(new Error("connection closed")))
  }

  static connect(port: number): Promise<Resp> {
    return new Promise((resolve, reject) => {
      const socket = new Socket()
      socket.once("error", reject)
      socket.connect(port, HOST, () => {
        socket.off("error", reject)
        resolve(new Resp(socket))
      })
    })
  }

  private failAll(error: Error): void {
    for (const waiter of this.waiting.splice(0)) waiter.reject(error)
  }

  /** One complete reply off the buffer, or undefined while it is incomplete. */
  private parse(): RespValue | Error | undefined {
    const lineEnd = this.buffer.indexOf("\r\n")
    if (lineEnd === -1) return undefined
    const type = String.fromCharCode(this.buffer[0]!)
    const line = this.buffer.toString("utf8", 1, lineEnd)
    if (type === "$") {
      const length = Number(line)
      if (length < 0) {
        this.buffer = this.buffer.subarray(lineEnd + 2)
        return null
      }
      if (this.buffer.length < lineEnd + 2 + length + 2) return undefined
      const value = this.buffer.toString("utf8", lineEnd + 2, lineEnd + 2 + length)
      this.buffer = this.buffer.subarray(lineEnd + 2 + length + 2)
      return value
    }
    this.buffer = this.buffer.subarray(lineEnd + 2)
    if (type === "-") return new Error(line)
    if (type === ":") return Number(line)
    if (type === "+") return line
    return new Error(`unexpected RESP reply type ${type}`)
  }

  command(...args: ReadonlyArray<string>): Promise<RespValue> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject })
      this.socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`)
    })
  }

  close(): void {
    this.socket.destroy()
  }
}

interface Server {
  readonly url: string
  readonly port: number
  readonly version: string
  readonly stop: () => Promise<void>
}

/** Started servers: SIGKILLed if the bench exits without stopping them. */
const spawned = new Set<ChildProcess>()
process.on("exit", () => {
  for (const child of spawned) child.kill("SIGKILL")
})

const startServer = async (executable: string): Promise<Server> => {
  const port = await freePort()
  const args = ["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
  const child = spawn(executable, [...args, "--daemonize", "no", "--protected-mode", "no"], {
    stdio: ["ignore", "pipe", "pipe"]
  })
  spawned.add(child)
  let output = ""
  const collect = (chunk: Buffer) => void (output = (output + chunk.toString("utf8")).slice(-4096))
  child.stdout!.on("data", collect)
  child.stderr!.on("data", collect)
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  void exited.then(() => spawned.delete(child))
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill("SIGTERM")
    const timer = setTimeout(() => child.kill("SIGKILL"), 2000)
    await exited
    clearTimeout(timer)
  }
  const deadline = Date.now() + 5000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited at start:\n${output}`)
    try {
      const client = await Resp.connect(port)
      try {
        if ((await client.command("PING")) === "PONG") {
          const info = String(await client.command("INFO", "server"))
          if (info.includes(`process_id:${child.pid}\r\n`)) {
            const version = /redis_version:(\S+)/.exec(info)?.[1] ?? "?"
            return { url: `redis://${HOST}:${port}`, port, version, stop }
          }
        }
      } finally {
        client.close()
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`redis-server on port ${port} not ready within 5 s:\n${output}`)
    }
    await sleep(20)
  }
}

// --- a, b: throughput and commands -------------------------------------------------------

type Mode = "memory" | "redis" | "redisFailing"

const modes: ReadonlyArray<Mode> = ["memory", "redis", "redisFailing"]

const modeLabel: Record<Mode, string> = {
  memory: "in memory (`distributedTracking: false`)",
  redis: "Redis (`distributedTracking: true`)",
  redisFailing: `Redis, 1 call in ${FAIL_EVERY} fails (not retried): informational`
}

/** What one INFO read says: total_commands_processed and calls per command. */
interface Counters {
  readonly total: number
  readonly calls: ReadonlyMap<string, number>
}

const readCounters = async (client: Resp): Promise<Counters> => {
  const info = String(await client.command("INFO", "all"))
  const total = Number(/total_commands_processed:(\d+)/.exec(info)?.[1])
  const calls = new Map<string, number>()
  for (const match of info.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) calls.set(match[1]!, Number(match[2]))
  return { total, calls }
}

/** Commands run between two reads, without the first read's own INFO (counted by the second). */
const delta = (before: Counters, after: Counters): Counters => {
  const calls = new Map<string, number>()
  for (const [name, n] of after.calls) {
    const d = n - (before.calls.get(name) ?? 0) - (name === "info" ? 1 : 0)
    if (d !== 0) calls.set(name, d)
  }
  return { total: after.total - before.total - 1, calls }
}

type RedisMode = Exclude<Mode, "memory">

const redisModes: ReadonlyArray<RedisMode> = ["redis", "redisFailing"]

/** A breaker for the whole run; in a Redis mode, connected and its circuit read once before anything is counted. */
const makeBreaker = async (mode: Mode, url: string | undefined): Promise<AdvancedCircuitBreaker<[], number>> => {
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
const hammer = async (breaker: AdvancedCircuitBreaker<[], number>, ms: number): Promise<number> => {
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

interface RoundResult {
  readonly callsPerSecond: number
  /** Redis modes only: what that mode's own server ran during the round. */
  readonly commands?: Counters
  readonly seconds: number
}

const runRound = async (
  breaker: AdvancedCircuitBreaker<[], number>,
  monitor: Resp | undefined
): Promise<RoundResult> => {
  ;(globalThis as { gc?: () => void }).gc?.()
  if (monitor === undefined) return { callsPerSecond: await hammer(breaker, ROUND_MS), seconds: ROUND_MS / 1000 }
  const before = await readCounters(monitor)
  const t0 = performance.now()
  const callsPerSecond = await hammer(breaker, ROUND_MS)
  const after = await readCounters(monitor)
  return { callsPerSecond, commands: delta(before, after), seconds: (performance.now() - t0) / 1000 }
}

// --- c: propagation ----------------------------------------------------------------------

type ParentMessage = { readonly cmd: "arm" } | { readonly cmd: "exit" }
type ChildMessage =
  | { readonly ready: true }
  | { readonly armed: true }
  /** When the child read OPEN, and when its raw subscriber got the announcement (hrtime, ns). */
  | { readonly open: string; readonly message: string | null }
  | { readonly closed: true }
  | { readonly error: string }

const propagationOptions = (url: string): Options => ({
  name: "propagation",
  failureThreshold: 1,
  resetTimeout: ONE_DAY,
  maxRetries: 0,
  distributedTracking: true,
  redis: url
})

/** The store's channel under the default prefix (packages/redis: `<prefix>events`). */
const CHANNEL = "cb:v1:events"

/** The second process: a breaker on the same circuit, reporting when it first reads OPEN, then CLOSED again. */
const propagationChild = async (url: string): Promise<void> => {
  const send = (message: ChildMessage) => void process.send?.(message)
  process.on("disconnect", () => process.exit(1))
  const breaker = createAdvancedCircuitBreaker(fn, propagationOptions(url))
  while ((await breaker.getDistributedState().catch(() => null)) === null) await sleep(10)
  breaker.getState()
  // A raw subscriber of the store's channel, beside the store's own: when the announcement reached this process.
  let announced: bigint | undefined
  const subscriber = new Socket()
  await new Promise<void>((resolve, reject) => {
    subscriber.once("error", reject)
    subscriber.connect(Number(new URL(url).port), HOST, () => {
      subscriber.write(`*2\r\n$9\r\nSUBSCRIBE\r\n$${CHANNEL.length}\r\n${CHANNEL}\r\n`, () => resolve())
    })
  })
  subscriber.on("data", (chunk: Buffer) => {
    if (chunk.includes("$7\r\nmessage\r\n")) announced ??= process.hrtime.bigint()
  })
  subscriber.unref()
  process.on("message", (message: ParentMessage) => {
    if (message.cmd === "exit") {
      subscriber.destroy()
      void breaker.dispose().finally(() => process.exit(0))
      return
    }
    announced = undefined
    // A poll every millisecond. A setImmediate spin reads sooner, but takes a whole core for itself: on a 2-core
    // machine shared with the parent and redis-server, it made the tail worse in our tries (p99 ~10 ms → ~50 ms).
    const poll = () => {
      if (breaker.getState() === "OPEN") {
        const open = process.hrtime.bigint()
        send({ open: String(open), message: announced === undefined ? null : String(announced) })
        const waitClosed = () => (breaker.getState() === "CLOSED" ? send({ closed: true }) : setTimeout(waitClosed, 1))
        waitClosed()
      } else {
        setTimeout(poll, 0)
      }
    }
    send({ armed: true })
    poll()
  })
  send({ ready: true })
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

/** Milliseconds from the parent's start of each trip to: its own OPEN, the message in the child, the child's OPEN. */
interface Trip {
  readonly local: number
  readonly message: number | undefined
  readonly seen: number
}

const measurePropagation = async (url: string): Promise<ReadonlyArray<Trip>> => {
  const child = fork(fileURLToPath(import.meta.url), [CHILD_FLAG, url], {
    execArgv: process.execArgv.filter((arg) => arg !== "--expose-gc"),
    // Its output (the store's log line) goes to stderr, with the progress lines: stdout is the report.
    stdio: ["ignore", 2, 2, "ipc"]
  })
  spawned.add(child)
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  void exited.then(() => spawned.delete(child))
  const inbox: Array<ChildMessage> = []
  let wake: (() => void) | undefined
  child.on("message", (message: ChildMessage) => {
    inbox.push(message)
    wake?.()
  })
  const next = async <K extends string>(key: K, within = 5000): Promise<Extract<ChildMessage, Record<K, unknown>>> => {
    const deadline = Date.now() + within
    for (;;) {
      const message = inbox.shift()
      if (message !== undefined) {
        if ("error" in message) throw new Error(`propagation child: ${message.error}`)
        if (key in message) return message as Extract<ChildMessage, Record<K, unknown>>
        throw new Error(`propagation child: expected ${key}, got ${JSON.stringify(message)}`)
      }
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`propagation child: no ${key}`)
      await new Promise<void>((resolve) => {
        wake = resolve
        setTimeout(resolve, 50)
      })
      wake = undefined
    }
  }
  const breaker = createAdvancedCircuitBreaker(async (): Promise<number> => {
    throw new Error("down")
  }, propagationOptions(url))
  try {
    while ((await breaker.getDistributedState().catch(() => null)) === null) await sleep(10)
    await next("ready", 20_000)
    const trips: Array<Trip> = []
    const since = (start: bigint, at: string) => Number(BigInt(at) - start) / 1e6
    for (let trip = 0; trip < TRIPS; trip++) {
      child.send({ cmd: "arm" } satisfies ParentMessage)
      await next("armed")
      await sleep(5)
      const start = process.hrtime.bigint()
      await breaker.execute().catch(() => undefined)
      const local = process.hrtime.bigint()
      if (breaker.getState() !== "OPEN") throw new Error(`the parent's breaker did not trip: ${breaker.getState()}`)
      const { open, message } = await next("open")
      trips.push({
        local: since(start, String(local)),
        message: message === null ? undefined : since(start, message),
        seen: since(start, open)
      })
      await breaker.reset()
      await next("closed")
      await sleep(10)
    }
    return trips
  } finally {
    await breaker.dispose()
    if (child.connected) child.send({ cmd: "exit" } satisfies ParentMessage)
    const timer = setTimeout(() => child.kill("SIGKILL"), 2000)
    await exited
    clearTimeout(timer)
  }
}

// --- the section --------------------------------------------------------------------------

const perSecond = (counters: ReadonlyArray<Counters>, seconds: number, name?: string): number =>
  counters.reduce((n, c) => n + (name === undefined ? c.total : (c.calls.get(name) ?? 0)), 0) / seconds

export const measureRedisMode = async (progress: (line: string) => void): Promise<RedisModeResult> => {
  const executable = findOnPath("redis-server")
  if (executable === undefined) return { lines: ["Redis mode: skipped (redis-server not found)"], targets: [] }
  const consoleLog = console.log
  console.log = (...args: Array<unknown>) => {
    if (typeof args[0] === "string" && args[0].startsWith("timestamp=")) process.stderr.write(`${args.join(" ")}\n`)
    else consoleLog(...args)
  }
  // One server per Redis mode: a server's counters are then one breaker's (one circuit, one instance).
  const servers: Partial<Record<RedisMode, Server>> = {}
  const monitors: Partial<Record<RedisMode, Resp>> = {}
  const breakers: Partial<Record<Mode, AdvancedCircuitBreaker<[], number>>> = {}
  try {
    for (const mode of redisModes) {
      const server = (servers[mode] = await startServer(executable))
      monitors[mode] = await Resp.connect(server.port)
    }
    const server = servers.redis!
    progress(
      `redis: redis-server ${server.version}, ports ${redisModes.map((m) => servers[m]!.port).join(", ")}; warm-up`
    )
    for (const mode of modes) {
      const breaker = (breakers[mode] = await makeBreaker(mode, mode === "memory" ? undefined : servers[mode]!.url))
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
    for (const mode of modes) await breakers[mode]!.dispose()
    progress(`redis: ${TRIPS} trips timed to a second process`)
    const load = os.loadavg()[0]!
    ;(globalThis as { gc?: () => void }).gc?.()
    const trips = await measurePropagation(server.url)
    const latencies = trips.map((t) => t.seen).sort((a, b) => a - b)
    const loadAfter = os.loadavg()[0]!

    const ratioOf = (mode: Mode) =>
      summarize(results[mode].map((r, i) => r.callsPerSecond / results.memory[i]!.callsPerSecond))
    const commandsOf = (mode: Mode) => {
      const rounds = results[mode]
      const counters = rounds.map((r) => r.commands!)
      const seconds = rounds.reduce((s, r) => s + r.seconds, 0)
      return {
        counters,
        seconds,
        total: perSecond(counters, seconds),
        perRound: summarize(rounds.map((r) => r.commands!.total / r.seconds)),
        client:
          perSecond(counters, seconds) - [...INSIDE_SCRIPTS].reduce((n, c) => n + perSecond(counters, seconds, c), 0)
      }
    }
    const redisRatio = ratioOf("redis")
    const commands = commandsOf("redis")
    const failingCommands = commandsOf("redisFailing")
    const p50 = percentile(latencies, 50)
    const p99 = percentile(latencies, 99)

    const lines: Array<string> = []
    lines.push(
      `redis-server ${server.version}, loopback, spawned for the bench (one per Redis mode, so that its counters ` +
        `are one breaker's). ${ROUNDS} interleaved rounds of ${ROUND_MS} ms per mode (order rotated; one breaker ` +
        `per mode for the whole run, after a warm-up round); ${CALLERS} concurrent callers looping ` +
        "`await breaker.execute()` on `async () => 42` through ONE circuit, each yielding to the event loop every " +
        `${YIELD_EVERY} calls. Promise API from dist/, default options. calls/s and ×: median over rounds ` +
        "(min–max); commands/s: over all rounds of the mode (min–max of the rounds)."
    )
    lines.push("")
    lines.push(
      table(
        ["mode", "calls/s", "× in-memory (per round)", "Redis commands/s (all)", "of which client round trips/s"],
        modes.map((mode) => {
          const cps = summarize(results[mode].map((r) => r.callsPerSecond))
          if (mode === "memory") return [modeLabel[mode], range(cps), "1", "0", "0"]
          const c = commandsOf(mode)
          const commandsCell = `${num(c.total)} (${num(c.perRound.min)}–${num(c.perRound.max)})`
          return [modeLabel[mode], range(cps), range(ratioOf(mode)), commandsCell, num(c.client)]
        }),
        ["l", "r", "r", "r", "r"]
      )
    )
    lines.push("")
    lines.push(
      "Redis commands by type, per second over all rounds of a mode (INFO commandstats deltas, the measuring " +
        "connection's own INFO taken out). `evalsha`/`eval` are the store's round trips; the commands marked * " +
        "run inside its Lua scripts (a read: TIME + HMGET; a compare-and-set: TIME + HGET + HSET + PEXPIRE, " +
        "+ PUBLISH on a change of state) and count in total_commands_processed too."
    )
    lines.push("")
    const names = [...new Set([...commands.counters, ...failingCommands.counters].flatMap((c) => [...c.calls.keys()]))]
    names.sort()
    lines.push(
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
    )
    lines.push("")
    lines.push(
      `Trip propagation to a second process, ${latencies.length} trips: parent hrtime just before the failing call ` +
        "that trips the circuit → child hrtime when its `getState()`, polled every ms, first reads OPEN (the " +
        "parent's write and publish, then in the child the message and one read of the circuit, then up to 1 ms " +
        "of poll). The rows before it split that time. " +
        `Both on CLOCK_MONOTONIC. Load average (1 min) ${num(load)} before, ${num(loadAfter)} after, on ` +
        `${os.availableParallelism()} cores.`
    )
    lines.push("")
    const phases: ReadonlyArray<readonly [string, ReadonlyArray<number>]> = [
      ["the parent's own state OPEN (its call settled)", trips.map((t) => t.local)],
      [
        "the announcement in the child (a raw subscriber beside the store's)",
        trips.flatMap((t) => (t.message === undefined ? [] : [t.message]))
      ],
      ["**the child's `getState()` reads OPEN** (the target)", latencies]
    ]
    lines.push(
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
    )

    const memoryCps = summarize(results.memory.map((r) => r.callsPerSecond))
    const redisCps = summarize(results.redis.map((r) => r.callsPerSecond))
    const targets: Array<Target> = [
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
    return { lines, targets }
  } finally {
    await Promise.all(Object.values(breakers).map((breaker) => breaker.dispose()))
    for (const monitor of Object.values(monitors)) monitor.close()
    await Promise.all(Object.values(servers).map((server) => server.stop()))
    console.log = consoleLog
  }
}

// Forked by `measurePropagation`: this file is the second process.
if (process.argv[2] === CHILD_FLAG && resolvePath(process.argv[1] ?? "") === fileURLToPath(import.meta.url)) {
  propagationChild(process.argv[3]!).catch((error: unknown) => {
    process.send?.({ error: String((error as Error)?.stack ?? error) } satisfies ChildMessage)
    process.exit(1)
  })
}
