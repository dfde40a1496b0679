import { parseArgs } from "node:util"
import type { CircuitStoreError } from "@circuit-breaker/core"
import { RedisCircuitBreakerStore } from "@circuit-breaker/redis"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { Redis } from "ioredis"
import * as Cluster from "./cluster.js"

export const usage = `Usage: circuit-breaker <command> [NAME] [options]

Commands:
  status            every circuit under the prefix, cluster-wide
  watch             the same, refreshed every --interval until Ctrl-C
  trip NAME         open the circuit in every process that shares it
  reset NAME        close it in every process that shares it
  isolate NAME      hold it open until released
  release NAME      undo an isolate

Options:
  --redis URL           Redis (default: the REDIS_URL environment variable)
  --prefix PREFIX       the key prefix of the circuits (default "cb:v1:")
  --json                machine-readable output
  --interval SECONDS    watch's refresh period (default 1)
  --reset-timeout SECS  how long a trip keeps the circuit open (default 30)
  -h, --help            this text

Exit status: 0 done, 1 failed (one line on stderr says why), 2 bad usage.`

/** Where the CLI writes; a test gives its own. */
export interface Io {
  readonly out: (text: string) => void
  readonly err: (text: string) => void
  readonly env: Readonly<Record<string, string | undefined>>
  /** Resolves when watch should stop (Ctrl-C). */
  readonly interrupted: Promise<void>
}

class Usage extends Error {}

const commands = ["status", "watch", "trip", "reset", "isolate", "release"] as const
type Command = (typeof commands)[number]

interface Parsed {
  readonly command: Command
  readonly name: string | undefined
  readonly redis: string
  readonly prefix: string | undefined
  readonly json: boolean
  readonly intervalMillis: number
  readonly resetTimeoutMillis: number
}

const seconds = (text: string | undefined, option: string, fallback: number): number => {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isFinite(value) || value <= 0) throw new Usage(`--${option} must be a positive number of seconds`)
  return value * 1000
}

const parse = (argv: ReadonlyArray<string>, env: Io["env"]): Parsed | "help" => {
  let parsed: ReturnType<typeof parseOptions>
  try {
    parsed = parseOptions(argv)
  } catch (e) {
    throw new Usage((e as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help) return "help"
  const [command, name, ...rest] = positionals
  if (command === undefined) throw new Usage("a command is required")
  if (!commands.includes(command as Command)) throw new Usage(`unknown command "${command}"`)
  const named = command !== "status" && command !== "watch"
  if (named && (name === undefined || name === "")) throw new Usage(`${command} needs a circuit NAME`)
  if ((!named && name !== undefined) || rest.length > 0) throw new Usage("too many arguments")
  const redis = values.redis ?? env.REDIS_URL
  if (redis === undefined || redis === "") throw new Usage("no Redis: pass --redis URL or set REDIS_URL")
  if (!isRedisUrl(redis))
    throw new Usage("the Redis URL is not a valid redis:// or rediss:// URL (not shown: it may hold a password)")
  return {
    command: command as Command,
    name,
    redis,
    prefix: values.prefix,
    json: values.json ?? false,
    intervalMillis: seconds(values.interval, "interval", 1000),
    resetTimeoutMillis: seconds(values["reset-timeout"], "reset-timeout", 30_000)
  }
}

const isRedisUrl = (url: string): boolean => {
  try {
    return /^rediss?:$/.test(new URL(url).protocol)
  } catch {
    return false
  }
}

const parseOptions = (argv: ReadonlyArray<string>) =>
  parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      redis: { type: "string" },
      prefix: { type: "string" },
      json: { type: "boolean" },
      interval: { type: "string" },
      "reset-timeout": { type: "string" },
      help: { type: "boolean", short: "h" }
    }
  })

const ago = (time: number, now: number): string => {
  const s = Math.max(0, Math.round((now - time) / 1000))
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`
}

/** The circuits as an aligned table. */
export const table = (circuits: ReadonlyArray<Cluster.ClusterCircuit>, now: number): string => {
  if (circuits.length === 0) return "no circuit under this prefix"
  const rows = [
    ["CIRCUIT", "STATE", "GENERATION", "SINCE", "RETRY IN", "UPDATED BY"],
    ...circuits.map((c) => [
      c.name,
      c.state,
      String(c.generation),
      ago(c.since, now),
      c.retryAt === null ? "-" : `${Math.max(0, Math.ceil((c.retryAt - now) / 1000))}s`,
      c.updatedBy ?? "-"
    ])
  ]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("  ")
        .trimEnd()
    )
    .join("\n")
}

const describe = (error: CircuitStoreError, redis: string): string =>
  `cannot reach Redis at ${RedisCircuitBreakerStore.redact(redis)}: ${error.detail}`

const run = (args: Parsed, io: Io, store: Cluster.SharedStore): Effect.Effect<number, CircuitStoreError> => {
  const status = Effect.map(Cluster.clusterCircuits(store), (circuits) =>
    args.json ? JSON.stringify(circuits) : table(circuits, Date.now())
  )
  switch (args.command) {
    case "status":
      return Effect.map(status, (text) => {
        io.out(text)
        return 0
      })
    case "watch":
      return Effect.as(
        Effect.raceFirst(
          Effect.forever(
            Effect.zipRight(
              Effect.map(status, (text) => io.out(args.json ? text : `\x1b[2J\x1b[H${text}`)),
              Effect.sleep(Duration.millis(args.intervalMillis))
            )
          ),
          Effect.promise(() => io.interrupted)
        ),
        0
      )
    case "trip":
    case "reset":
    case "isolate":
    case "release": {
      const name = args.name!
      const action = args.command
      return Effect.map(Cluster.command(store, name, action, args.resetTimeoutMillis), (found) => {
        if (!found) {
          io.err(`no circuit named ${JSON.stringify(name)} under this prefix`)
          return 1
        }
        io.out(
          args.json
            ? JSON.stringify({ circuit: name, action, scope: "cluster" })
            : `${done[action]} ${name} (cluster-wide)`
        )
        return 0
      })
    }
  }
}

const done = { trip: "tripped", reset: "reset", isolate: "isolated", release: "released" } as const

/** How long the CLI waits for Redis before it says it cannot reach it. */
const CONNECT_TIMEOUT_MILLIS = 1000

/** Runs the CLI; answers the exit status. Never throws. */
export const main = async (argv: ReadonlyArray<string>, io: Io): Promise<number> => {
  let args: Parsed | "help"
  try {
    args = parse(argv, io.env)
  } catch (e) {
    if (!(e instanceof Usage)) throw e
    io.err(`circuit-breaker: ${e.message}\n\n${usage}`)
    return 2
  }
  if (args === "help") {
    io.out(usage)
    return 0
  }
  const parsed = args
  const client = await connect(parsed.redis)
  if (typeof client === "string") {
    io.err(client)
    return 1
  }
  const scope = Effect.runSync(Scope.make())
  const program = Effect.flatMap(
    RedisCircuitBreakerStore.makeFromClient(client, {
      storeTimeout: Duration.millis(CONNECT_TIMEOUT_MILLIS),
      ...(parsed.prefix === undefined ? {} : { prefix: parsed.prefix })
    }),
    (store) => run(parsed, io, store as unknown as Cluster.SharedStore)
  ).pipe(
    // The store's own log lines would mix with the output (and break --json): the exit status and one line say it all.
    Logger.withMinimumLogLevel(LogLevel.None)
  )
  const exit = await Effect.runPromiseExit(Scope.extend(program, scope))
  if (Exit.isSuccess(exit)) {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await client.quit().catch(() => undefined)
    return exit.value
  }
  // Redis went away meanwhile: say so and stop, without waiting for the connections to close.
  client.disconnect()
  const failure = Cause.failureOption(exit.cause)
  io.err(
    Option.isSome(failure)
      ? describe(failure.value, parsed.redis)
      : `circuit-breaker: ${RedisCircuitBreakerStore.redact(String((Cause.squash(exit.cause) as Error)?.message))}`
  )
  return 1
}

/**
 * A connection that answers, or the one line that says why there is none: a refused connection
 * fails at once, one that never answers after `CONNECT_TIMEOUT_MILLIS`, and nothing retries.
 */
const connect = async (url: string): Promise<Redis | string> => {
  const cannot = (why: unknown) =>
    `cannot reach Redis at ${RedisCircuitBreakerStore.redact(url)}: ${RedisCircuitBreakerStore.redact(String((why as Error)?.message ?? why))}`
  let client: Redis
  try {
    client = new Redis(url, {
      lazyConnect: true,
      connectTimeout: CONNECT_TIMEOUT_MILLIS,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null
    })
  } catch {
    return `circuit-breaker: --redis is not a valid redis:// or rediss:// URL (not shown: it may hold a password)`
  }
  // The reason a connection failed comes with its error event; connect() itself only says it closed.
  let reason: unknown
  client.on("error", (error) => {
    reason ??= error
  })
  let timer: ReturnType<typeof setTimeout> | undefined
  // A server that accepts the connection but never answers: connectTimeout covers only the TCP connect.
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CONNECT_TIMEOUT_MILLIS} ms`)), CONNECT_TIMEOUT_MILLIS)
  })
  const connecting = client.connect()
  // Once it has lost the race, its rejection is answered by the one line already printed.
  connecting.catch(() => {})
  try {
    await Promise.race([connecting, silent])
    // Connected: from now on a lost connection is retried (watch outlives a restart of Redis).
    client.options.retryStrategy = (attempt) => Math.min(attempt * 200, 2000)
    return client
  } catch (error) {
    client.disconnect()
    return cannot(reason ?? error)
  } finally {
    clearTimeout(timer)
  }
}
