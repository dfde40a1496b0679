/**
 * Throwaway `redis-server` processes for tests: each on its own free loopback port, tracked, and killed by pid when
 * the test process ends. Plain Node only (no vitest, no Effect), so a child `node` process can import it too; the
 * test-facing module is `RedisServer.ts`, which re-exports all of this.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { accessSync, constants, readFileSync, rmSync, statSync } from "node:fs"
import { type AddressInfo, createConnection, createServer, type Socket } from "node:net"
import { delimiter, join } from "node:path"
import { type ConnectionOptions, connect as tlsConnect } from "node:tls"
import { type CertificateFiles, type TestCertificates, testCertificates, writeCertificates } from "./tls.js"

export type { TestCertificates } from "./tls.js"

export const HOST = "127.0.0.1"

/** An ACL user, created at startup with `--user <username> on ><password> <rules>`. */
export interface RedisUser {
  readonly username: string
  readonly password: string
  /** ACL rules after `on >password` (default `["~*", "&*", "+@all"]`: every key, channel and command). */
  readonly rules?: ReadonlyArray<string>
}

export interface RedisTlsOptions {
  /** `tls-auth-clients` (default `"no"`): with `"yes"`, a client must present a certificate signed by the CA. */
  readonly authClients?: "no" | "yes" | "optional"
  /** The certificates to serve (default: `testCertificates()`, the same for every server of the process). */
  readonly certificates?: TestCertificates
}

export interface RedisServerOptions {
  /** Starts the server with `--requirepass` (the `default` user's password); `url` and `command` then authenticate. */
  readonly password?: string
  /** ACL users besides `default`, e.g. `[{ username: "alice", password: "secret" }]`. */
  readonly users?: ReadonlyArray<RedisUser>
  /**
   * Turns the `default` user off (`--user default off`): a connection must `AUTH <username> <password>`. Needs
   * `users` and excludes `password`; `url`, `command` and the readiness check then authenticate as `users[0]`, which
   * must be allowed PING and INFO.
   */
  readonly disableDefaultUser?: boolean
  /**
   * Serves TLS only: `--port 0 --tls-port <port>` with throwaway certificates for 127.0.0.1 / localhost (`tls` on
   * the server holds them; the files exist only while redis-server starts). `url` becomes `rediss://`.
   */
  readonly tls?: boolean | RedisTlsOptions
  /** Extra `redis-server` arguments, after (so able to override) the defaults. */
  readonly args?: ReadonlyArray<string>
}

export interface RedisServer {
  readonly host: string
  /** Stays the same across `restart`. */
  readonly port: number
  /**
   * `redis://[:password@]127.0.0.1:port`; `rediss://` with `tls`; `redis://username:password@…` (the first user's)
   * with `disableDefaultUser`. Credentials are URL-encoded.
   */
  readonly url: string
  /** With `tls`, the certificates served: trust `ca`; `clientCert` and `clientKey` pass `tls-auth-clients yes`. */
  readonly tls: TestCertificates | undefined
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
   * Sends one command (authenticating first as `url` does, over TLS with `tls`) and resolves with the raw RESP reply,
   * without its final CRLF: `"+PONG"`, `":0"`, `"$3\r\nbar"`, `"*2\r\n..."`. Rejects on an error reply (`-...`), on a
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
  /** Certificate directories of servers being started. */
  readonly tempDirs: Set<string>
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

const removeTempDirsSync = () => {
  for (const dir of registry.tempDirs) rmSync(dir, { recursive: true, force: true })
  registry.tempDirs.clear()
}

const cleanUpSync = () => {
  killAllRedisServersSync()
  removeTempDirsSync()
}

// One registry per process, even if this module is evaluated more than once.
const registryKey = Symbol.for("@circuit-breaker/redis/test/redisProcess")
const registry: Registry = ((globalThis as any)[registryKey] ??= (() => {
  process.on("exit", () => cleanUpSync())
  return { live: new Map(), signalHandlers: new Map(), tempDirs: new Set() } satisfies Registry
})())

// Vitest ends its fork workers with SIGTERM, whose default action skips the "exit" event: while servers run, catch the
// usual termination signals, kill the servers, then, if nobody else handles the signal, re-raise it with the default
// action restored.
const installSignalHandlers = () => {
  if (registry.signalHandlers.size > 0) return
  for (const signal of cleanupSignals) {
    const handler = () => {
      cleanUpSync()
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
  /** Connects over TLS with these options (e.g. `{ ca }`), writing `payload` once the handshake is done. */
  readonly tls?: ConnectionOptions
}

/**
 * Opens a connection (over TLS with `options.tls`) to `port`, writes `payload` as is (RESP or inline commands such as
 * `"PING\r\n"`), and resolves with the raw replies (each without its final CRLF) once `replies` of them arrived.
 * Rejects on connection errors (keeping their `code`, e.g. `"ECONNREFUSED"`), on a close before all replies, and on
 * timeout. Always destroys the socket and clears its timer.
 */
export const rawRequest = (port: number, payload: string, options: RawRequestOptions = {}): Promise<Array<string>> =>
  new Promise((resolve, reject) => {
    const expected = options.replies ?? 1
    const host = options.host ?? HOST
    const write = () => socket.write(payload)
    const socket: Socket =
      options.tls === undefined
        ? createConnection({ port, host }, write)
        : tlsConnect({ ...options.tls, port, host }, write)
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
        `no reply from ${host}:${port} within ${options.timeout ?? commandTimeout} ms`
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
    socket.on("close", () => settle(new Error(`connection to ${host}:${port} closed before a reply`)))
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

const defaultUserRules: ReadonlyArray<string> = ["~*", "&*", "+@all"]

/** What every launch of a server (first start and restarts) needs, resolved once. */
interface Setup {
  readonly options: RedisServerOptions
  /** The arguments of the harness's `AUTH`, if it must authenticate. */
  readonly auth: ReadonlyArray<string> | undefined
  readonly certificates: TestCertificates | undefined
  /** How the harness connects over TLS: trusting the CA, with the client certificate. */
  readonly tls: ConnectionOptions | undefined
  readonly url: (port: number) => string
}

const resolveSetup = async (options: RedisServerOptions): Promise<Setup> => {
  const users = options.users ?? []
  if (options.disableDefaultUser === true && users.length === 0) {
    throw new Error("disableDefaultUser needs users: nobody could connect")
  }
  if (options.disableDefaultUser === true && options.password !== undefined) {
    throw new Error("password is the default user's: it cannot be combined with disableDefaultUser")
  }
  const tlsOptions = options.tls === true ? {} : options.tls === false ? undefined : options.tls
  const certificates = tlsOptions === undefined ? undefined : (tlsOptions.certificates ?? (await testCertificates()))
  const first = users[0]
  const auth =
    options.disableDefaultUser === true
      ? [first!.username, first!.password]
      : options.password === undefined
        ? undefined
        : [options.password]
  const credentials =
    auth === undefined
      ? ""
      : `${auth.length === 2 ? encodeURIComponent(auth[0]!) : ""}:${encodeURIComponent(auth.at(-1)!)}@`
  const scheme = certificates === undefined ? "redis" : "rediss"
  return {
    options,
    auth,
    certificates,
    tls:
      certificates === undefined
        ? undefined
        : { ca: certificates.ca, cert: certificates.clientCert, key: certificates.clientKey },
    url: (port) => `${scheme}://${credentials}${HOST}:${port}`
  }
}

const spawnRedis = (port: number, setup: Setup, files: CertificateFiles | undefined): Promise<Proc> =>
  new Promise((resolve, reject) => {
    const { options } = setup
    const tlsOptions = typeof options.tls === "object" ? options.tls : {}
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
      ...(options.users ?? []).flatMap((user) => [
        "--user",
        user.username,
        "on",
        `>${user.password}`,
        ...(user.rules ?? defaultUserRules)
      ]),
      ...(options.disableDefaultUser === true ? ["--user", "default", "off"] : []),
      ...(files === undefined
        ? []
        : [
            "--port",
            "0",
            "--tls-port",
            String(port),
            "--tls-cert-file",
            files.certFile,
            "--tls-key-file",
            files.keyFile,
            "--tls-ca-cert-file",
            files.caFile,
            "--tls-auth-clients",
            tlsOptions.authClients ?? "no"
          ]),
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
    readonly addressInUse: boolean,
    /** What redis-server printed. */
    readonly output: string
  ) {
    super(message)
  }
}

/** Waits until the server on `port` answers PING, and is `proc` (not some other server that took the port). */
const waitUntilReady = async (proc: Proc, port: number, setup: Setup): Promise<void> => {
  const auth = setup.auth === undefined ? "" : encodeCommand(["AUTH", ...setup.auth])
  const payload = `${auth}${encodeCommand(["PING"])}${encodeCommand(["INFO", "server"])}`
  const replies = setup.auth === undefined ? 2 : 3
  const deadline = Date.now() + readyTimeout
  for (;;) {
    if (proc.hasExited()) {
      const output = proc.output()
      throw new StartError(
        `redis-server on port ${port} exited before accepting connections:\n${output}`,
        output.includes(addressInUse),
        output
      )
    }
    try {
      const reply = await rawRequest(port, payload, {
        replies,
        timeout: 250,
        ...(setup.tls === undefined ? {} : { tls: setup.tls })
      })
      if (reply.at(-2) === "+PONG" && reply.at(-1)!.includes(`process_id:${proc.pid}\r\n`)) return
    } catch {
      // not listening yet
    }
    if (Date.now() >= deadline) {
      throw new StartError(
        `redis-server on port ${port} did not answer PING within ${readyTimeout} ms:\n${proc.output()}`,
        false,
        proc.output()
      )
    }
    await sleep(proc.hasExited() ? 0 : 20)
  }
}

/**
 * Spawns redis-server on `port` and waits until it is ready; kills it if it never is. The certificate files, if any,
 * exist only meanwhile: redis-server reads them once, at startup.
 */
const launch = async (port: number, setup: Setup): Promise<Proc> => {
  const files = setup.certificates === undefined ? undefined : writeCertificates(setup.certificates)
  if (files !== undefined) registry.tempDirs.add(files.dir)
  try {
    const proc = await spawnRedis(port, setup, files)
    try {
      await waitUntilReady(proc, port, setup)
      return proc
    } catch (error) {
      if (!proc.hasExited()) proc.child.kill("SIGKILL")
      await proc.exit()
      throw error
    }
  } finally {
    if (files !== undefined) {
      files.remove()
      registry.tempDirs.delete(files.dir)
    }
  }
}

const isAddressInUse = (error: unknown) => error instanceof StartError && error.addressInUse

/**
 * Starts a `redis-server` on a free loopback port (no persistence, DEBUG allowed from loopback) and resolves once it
 * answers PING. Retries on another port when the one picked was taken meanwhile. Stop it with `stop()`.
 */
export const startRedisServer = async (options: RedisServerOptions = {}): Promise<RedisServer> => {
  requireRedisServer()
  const setup = await resolveSetup(options)
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    try {
      return makeServer(port, setup, await launch(port, setup))
    } catch (error) {
      if (!isAddressInUse(error) || attempt >= startAttempts) throw error
    }
  }
}

const makeServer = (port: number, setup: Setup, first: Proc): RedisServer => {
  const { auth } = setup
  let proc = first
  let stopping: Promise<void> | undefined
  const url = setup.url(port)

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
        proc = await launch(port, setup)
        return
      } catch (error) {
        // Redis binds with SO_REUSEADDR, so TIME_WAIT should not get in the way; retry briefly in case it does.
        if (!isAddressInUse(error) || Date.now() >= deadline) throw error
        await sleep(100)
      }
    }
  }

  const command = async (...args: Array<string>): Promise<string> => {
    const authenticate = auth === undefined ? "" : encodeCommand(["AUTH", ...auth])
    const replies = await rawRequest(port, `${authenticate}${encodeCommand(args)}`, {
      replies: auth === undefined ? 1 : 2,
      ...(setup.tls === undefined ? {} : { tls: setup.tls })
    })
    if (auth !== undefined && replies[0] !== "+OK") throw new Error(`AUTH failed: ${replies[0]}`)
    const reply = replies.at(-1)!
    if (reply.startsWith("-")) throw new Error(`${args.join(" ")}: ${reply.slice(1)}`)
    return reply
  }

  return {
    host: HOST,
    port,
    url,
    tls: setup.certificates,
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

// ---------------------------------------------------------------------------------------------------------------------
// TLS support
// ---------------------------------------------------------------------------------------------------------------------

export type TlsSupport = { readonly supported: true } | { readonly supported: false; readonly reason: string }

let tlsProbe: Promise<TlsSupport> | undefined

/** The lines of redis-server's output that say why it could not serve TLS (or its last lines). */
const whyNot = (output: string): string => {
  const lines = output
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
  const relevant = lines.filter((line) => /tls|ssl/i.test(line))
  return (relevant.length > 0 ? relevant : lines.slice(-3))
    .map((line) => line.replace(/^\d+:[A-Z] [^#*]*[#*] /, ""))
    .join("; ")
}

/**
 * Whether this redis-server can serve TLS: probed once per process by starting a TLS server and PINGing it over TLS.
 * Resolves with the reason when it cannot (not built with TLS, no openssl to make certificates, ...).
 */
export const redisTlsSupport = (): Promise<TlsSupport> => {
  tlsProbe ??= (async (): Promise<TlsSupport> => {
    if (redisServerPath === undefined) return { supported: false, reason: "redis-server not found on PATH" }
    let certificates: TestCertificates
    try {
      certificates = await testCertificates()
    } catch (error) {
      return { supported: false, reason: `no test certificates: ${(error as Error).message}` }
    }
    try {
      const server = await startRedisServer({ tls: { certificates } })
      await server.stop()
      return { supported: true }
    } catch (error) {
      const detail = error instanceof StartError ? whyNot(error.output) : (error as Error).message
      return { supported: false, reason: `${redisServerPath} does not serve TLS (${detail || "no output"})` }
    }
  })()
  return tlsProbe
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
