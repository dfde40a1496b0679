/**
 * Throwaway `redis-server` processes for tests: each on its own free loopback port, tracked, and killed by pid when
 * the test process ends. Plain Node only (no vitest, no Effect), so a child `node` process can import it too; the
 * test-facing module is `RedisServer.ts`, which re-exports all of this.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { accessSync, constants, readFileSync, statSync } from "node:fs"
import { type AddressInfo, createServer, Socket } from "node:net"
import { delimiter, join } from "node:path"

export const HOST = "127.0.0.1"

export interface RedisServerOptions {
  /** Starts the server with `--requirepass`; `url` and `command` then authenticate. */
  readonly password?: string
  /** Extra `redis-server` arguments, after (so able to override) the defaults. */
  readonly args?: ReadonlyArray<string>
}

export interface RedisServer {
  readonly host: string
  /** Stays the same across `restart`. */
  readonly port: number
  /** `redis://[:password@]127.0.0.1:port` */
  readonly url: string
  /** The current process; changes on `restart`. */
  readonly pid: number
  /** SIGKILL, then waits for the process to exit. No-op when not running. */
  kill(): Promise<void>
  /** SIGSTOP: connections stay open but nothing is answered. */
  freeze(): void
  /** SIGCONT: undoes `freeze`. */
  thaw(): void
  /** Kills the server, then starts an empty one on the same port and waits until it answers. */
  restart(): Promise<void>
  /** SIGCONT, SIGTERM, SIGKILL after 2 s; waits for exit. Idempotent. */
  stop(): Promise<void>
  /**
   * Sends one command (authenticating first when a password is set) and resolves with the raw RESP reply, without
   * its final CRLF: `"+PONG"`, `":0"`, `"$3\r\nbar"`, `"*2\r\n..."`. Rejects on an error reply (`-...`), on a
   * connection error and after `commandTimeout` ms without a complete reply.
   */
  command(...args: Array<string>): Promise<string>
  isRunning(): boolean
}

const commandTimeout = 5_000
const readyTimeout = 5_000
const stopGrace = 2_000
const startAttempts = 5
const restartWindow = 3_000

// ---------------------------------------------------------------------------------------------------------------------
// Finding redis-server
// ---------------------------------------------------------------------------------------------------------------------

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

/** The `redis-server` executable found on PATH, if any. */
export const redisServerPath: string | undefined = findOnPath("redis-server")

/** `redisServerPath`, or throws when redis-server is not installed. */
export const requireRedisServer = (): string => {
  if (redisServerPath === undefined) throw new Error("redis-server not found on PATH")
  return redisServerPath
}

// ---------------------------------------------------------------------------------------------------------------------
// Tracking: no server outlives the test process
// ---------------------------------------------------------------------------------------------------------------------

interface Registry {
  readonly live: Map<number, ChildProcess>
  readonly signalHandlers: Map<NodeJS.Signals, () => void>
}

const cleanupSignals: ReadonlyArray<NodeJS.Signals> = ["SIGTERM", "SIGINT", "SIGHUP"]

/** SIGKILLs every tracked server, synchronously (safe inside `process.on("exit")` and signal handlers). */
export const killAllRedisServersSync = (): void => {
  for (const pid of registry.live.keys()) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // already gone
    }
  }
}

// One registry per process, even if this module is evaluated more than once.
const registryKey = Symbol.for("@circuit-breaker/redis/test/redisProcess")
const registry: Registry = ((globalThis as any)[registryKey] ??= (() => {
  process.on("exit", () => killAllRedisServersSync())
  return { live: new Map(), signalHandlers: new Map() } satisfies Registry
})())

// Vitest ends its fork workers with SIGTERM, whose default action skips the "exit" event: while servers run, catch the
// usual termination signals, kill the servers, then, if nobody else handles the signal, re-raise it with the default
// action restored.
const installSignalHandlers = () => {
  if (registry.signalHandlers.size > 0) return
  for (const signal of cleanupSignals) {
    const handler = () => {
      killAllRedisServersSync()
      if (process.listenerCount(signal) === 1) {
        uninstallSignalHandlers()
        process.kill(process.pid, signal)
      }
    }
    registry.signalHandlers.set(signal, handler)
    process.on(signal, handler)
  }
}

const uninstallSignalHandlers = () => {
  for (const [signal, handler] of registry.signalHandlers) process.off(signal, handler)
  registry.signalHandlers.clear()
}

const track = (child: ChildProcess) => {
  const pid = child.pid!
  registry.live.set(pid, child)
  installSignalHandlers()
  child.once("exit", () => {
    registry.live.delete(pid)
    if (registry.live.size === 0) uninstallSignalHandlers()
  })
}

/** Pids of the servers started by this process that are still running. */
export const runningRedisServerPids = (): Array<number> => Array.from(registry.live.keys())

// ---------------------------------------------------------------------------------------------------------------------
// A tiny RESP client
// ---------------------------------------------------------------------------------------------------------------------

/** Encodes a command as a RESP array of bulk strings. */
export const encodeCommand = (args: ReadonlyArray<string>): string =>
  `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join("")}`

/** The offset just past the complete RESP2 reply starting at `start`, or -1 while it is incomplete. */
const replyEnd = (buffer: Buffer, start: number): number => {
  if (start >= buffer.length) return -1
  const lineEnd = buffer.indexOf("\r\n", start)
  if (lineEnd === -1) return -1
  const next = lineEnd + 2
  const type = String.fromCharCode(buffer[start]!)
  if (type !== "$" && type !== "*") return next
  const length = Number(buffer.toString("latin1", start + 1, lineEnd))
  if (length < 0) return next
  if (type === "$") return buffer.length >= next + length + 2 ? next + length + 2 : -1
  let offset = next
  for (let i = 0; i < length; i++) {
    offset = replyEnd(buffer, offset)
    if (offset === -1) return -1
  }
  return offset
}

export interface RawRequestOptions {
  readonly host?: string
  /** How many replies to wait for (default 1). */
  readonly replies?: number
  /** Rejects with an error whose `code` is `"ETIMEDOUT"` after this many ms (default 5000). */
  readonly timeout?: number
}

/**
 * Opens a connection to `port`, writes `payload` as is (RESP or inline commands such as `"PING\r\n"`), and resolves
 * with the raw replies (each without its final CRLF) once `replies` of them arrived. Rejects on connection errors
 * (keeping their `code`, e.g. `"ECONNREFUSED"`), on a close before all replies, and on timeout. Always destroys the
 * socket and clears its timer.
 */
export const rawRequest = (port: number, payload: string, options: RawRequestOptions = {}): Promise<Array<string>> =>
  new Promise((resolve, reject) => {
    const expected = options.replies ?? 1
    const socket = new Socket()
    let buffer = Buffer.alloc(0)
    let settled = false
    const settle = (error: Error | undefined, replies?: Array<string>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve(replies!)
    }
    const timer = setTimeout(() => {
      const error: NodeJS.ErrnoException = new Error(
        `no reply from ${options.host ?? HOST}:${port} within ${options.timeout ?? commandTimeout} ms`
      )
      error.code = "ETIMEDOUT"
      settle(error)
    }, options.timeout ?? commandTimeout)
    socket.on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk])
      const replies: Array<string> = []
      let offset = 0
      while (replies.length < expected) {
        const end = replyEnd(buffer, offset)
        if (end === -1) return
        replies.push(buffer.toString("utf8", offset, end - 2))
        offset = end
      }
      settle(undefined, replies)
    })
    socket.on("error", (error) => settle(error))
    socket.on("close", () => settle(new Error(`connection to ${options.host ?? HOST}:${port} closed before a reply`)))
    socket.connect(port, options.host ?? HOST, () => {
      socket.write(payload)
    })
  })

// ---------------------------------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------------------------------

interface Proc {
  readonly child: ChildProcess
  readonly pid: number
  readonly hasExited: () => boolean
  /** Resolves once the process exited (keeping the event loop alive meanwhile). */
  readonly exit: () => Promise<void>
  readonly output: () => string
}

const addressInUse = "Address already in use"

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const freePort = async (): Promise<number> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await new Promise<number>((resolve, reject) => {
        const server = createServer()
        server.unref()
        server.once("error", reject)
        server.listen(0, HOST, () => {
          const { port } = server.address() as AddressInfo
          server.close(() => resolve(port))
        })
      })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt >= startAttempts) throw error
    }
  }
}

const spawnRedis = (port: number, options: RedisServerOptions): Promise<Proc> =>
  new Promise((resolve, reject) => {
    const args = [
      "--port",
      String(port),
      "--bind",
      HOST,
      "--save",
      "",
      "--appendonly",
      "no",
      "--enable-debug-command",
      "local",
      "--daemonize",
      "no",
      "--protected-mode",
      "no",
      ...(options.password === undefined ? [] : ["--requirepass", options.password]),
      ...(options.args ?? [])
    ]
    const child = spawn(requireRedisServer(), args, { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-8_192)
    }
    child.stdout!.on("data", collect)
    child.stderr!.on("data", collect)
    let exited = false
    const exitPromise = new Promise<void>((resolveExit) => {
      child.once("exit", () => {
        exited = true
        resolveExit()
      })
    })
    child.on("error", (error) => {
      exited = true
      reject(error)
    })
    child.once("spawn", () => {
      track(child)
      // Never keep the test process alive: the exit handler kills whatever is left.
      child.unref()
      ;(child.stdout as Socket).unref()
      ;(child.stderr as Socket).unref()
      resolve({
        child,
        pid: child.pid!,
        hasExited: () => exited || child.exitCode !== null || child.signalCode !== null,
        exit: () => {
          if (exited) return Promise.resolve()
          child.ref()
          return exitPromise.finally(() => child.unref())
        },
        output: () => output
      })
    })
  })

class StartError extends Error {
  constructor(
    message: string,
    readonly addressInUse: boolean
  ) {
    super(message)
  }
}

/** Waits until the server on `port` answers PING, and is `proc` (not some other server that took the port). */
const waitUntilReady = async (proc: Proc, port: number, password: string | undefined): Promise<void> => {
  const auth = password === undefined ? "" : encodeCommand(["AUTH", password])
  const payload = `${auth}${encodeCommand(["PING"])}${encodeCommand(["INFO", "server"])}`
  const replies = password === undefined ? 2 : 3
  const deadline = Date.now() + readyTimeout
  for (;;) {
    if (proc.hasExited()) {
      const output = proc.output()
      throw new StartError(
        `redis-server on port ${port} exited before accepting connections:\n${output}`,
        output.includes(addressInUse)
      )
    }
    try {
      const reply = await rawRequest(port, payload, { replies, timeout: 250 })
      if (reply.at(-2) === "+PONG" && reply.at(-1)!.includes(`process_id:${proc.pid}\r\n`)) return
    } catch {
      // not listening yet
    }
    if (Date.now() >= deadline) {
      throw new StartError(
        `redis-server on port ${port} did not answer PING within ${readyTimeout} ms:\n${proc.output()}`,
        false
      )
    }
    await sleep(proc.hasExited() ? 0 : 20)
  }
}

/** Spawns redis-server on `port` and waits until it is ready; kills it if it never is. */
const launch = async (port: number, options: RedisServerOptions): Promise<Proc> => {
  const proc = await spawnRedis(port, options)
  try {
    await waitUntilReady(proc, port, options.password)
    return proc
  } catch (error) {
    if (!proc.hasExited()) proc.child.kill("SIGKILL")
    await proc.exit()
    throw error
  }
}

const isAddressInUse = (error: unknown) => error instanceof StartError && error.addressInUse

/**
 * Starts a `redis-server` on a free loopback port (no persistence, DEBUG allowed from loopback) and resolves once it
 * answers PING. Retries on another port when the one picked was taken meanwhile. Stop it with `stop()`.
 */
export const startRedisServer = async (options: RedisServerOptions = {}): Promise<RedisServer> => {
  requireRedisServer()
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    try {
      return makeServer(port, options, await launch(port, options))
    } catch (error) {
      if (!isAddressInUse(error) || attempt >= startAttempts) throw error
    }
  }
}

const makeServer = (port: number, options: RedisServerOptions, first: Proc): RedisServer => {
  const { password } = options
  let proc = first
  let stopping: Promise<void> | undefined
  const url =
    password === undefined ? `redis://${HOST}:${port}` : `redis://:${encodeURIComponent(password)}@${HOST}:${port}`

  const signal = (name: NodeJS.Signals) => {
    if (!proc.hasExited()) proc.child.kill(name)
  }

  const kill = async () => {
    const current = proc
    if (!current.hasExited()) current.child.kill("SIGKILL")
    await current.exit()
  }

  const stop = (): Promise<void> => {
    const current = proc
    if (current.hasExited()) return Promise.resolve()
    if (stopping === undefined) {
      stopping = (async () => {
        current.child.kill("SIGCONT")
        current.child.kill("SIGTERM")
        const timer = setTimeout(() => {
          if (!current.hasExited()) current.child.kill("SIGKILL")
        }, stopGrace)
        try {
          await current.exit()
        } finally {
          clearTimeout(timer)
          stopping = undefined
        }
      })()
    }
    return stopping
  }

  const restart = async () => {
    await kill()
    const deadline = Date.now() + restartWindow
    for (;;) {
      try {
        proc = await launch(port, options)
        return
      } catch (error) {
        // Redis binds with SO_REUSEADDR, so TIME_WAIT should not get in the way; retry briefly in case it does.
        if (!isAddressInUse(error) || Date.now() >= deadline) throw error
        await sleep(100)
      }
    }
  }

  const command = async (...args: Array<string>): Promise<string> => {
    const auth = password === undefined ? "" : encodeCommand(["AUTH", password])
    const replies = await rawRequest(port, `${auth}${encodeCommand(args)}`, {
      replies: password === undefined ? 1 : 2
    })
    if (password !== undefined && replies[0] !== "+OK") throw new Error(`AUTH failed: ${replies[0]}`)
    const reply = replies.at(-1)!
    if (reply.startsWith("-")) throw new Error(`${args.join(" ")}: ${reply.slice(1)}`)
    return reply
  }

  return {
    host: HOST,
    port,
    url,
    get pid() {
      return proc.pid
    },
    kill,
    freeze: () => signal("SIGSTOP"),
    thaw: () => signal("SIGCONT"),
    restart,
    stop,
    command,
    isRunning: () => !proc.hasExited()
  }
}

/**
 * Whether a process with this pid is alive; a zombie (killed, but not yet reaped by its parent, as happens once the
 * process that started it is gone) counts as dead.
 */
export const isProcessAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return !/^\d+ \(.*\) [ZX]/s.test(stat)
  } catch {
    return true
  }
}
