import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { type CircuitBreakerState, CircuitStoreError } from "@circuit-breaker/core"
import { clockNow } from "@circuit-breaker/core/internal"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import { Clock as ClockTag } from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { Redis, type RedisOptions } from "ioredis"
import type * as API from "../RedisCircuitBreakerStore.js"
import * as codec from "./codec.js"
import * as scripts from "./scripts.js"

type CircuitState = CircuitBreakerState.CircuitState<unknown>
type Transition = (state: CircuitState) => readonly [unknown, CircuitState]

/** The most transitions kept for a circuit while Redis cannot be reached; older ones are dropped. */
const MAX_PENDING = 1000
const MAX_CAS_ATTEMPTS = 16

const liveClock = Context.get(DefaultServices.liveServices, ClockTag)

/** Redacts credentials from anything that may hold a Redis URL or password. */
export const redact = (text: string): string =>
  text.replace(/(rediss?:\/\/)([^@/\s]*)@/gi, "$1***@").replace(/(password["'\s:=]+)([^"'\s,}]+)/gi, "$1***")

/** `{` and `}` end a Redis Cluster hash tag early, and `%` is the escape: no name reaches another circuit's keys. */
export const escapeName = (name: string): string =>
  name.replace(/%/g, "%25").replace(/\{/g, "%7B").replace(/\}/g, "%7D")

interface CommandClient extends Redis {
  circuitBreakerRead(key: string): Promise<[number, string | null, string | null, string | null, number]>
  circuitBreakerCompareAndSet(
    key: string,
    expected: number,
    state: string,
    instance: string,
    ttl: number,
    channel: string,
    message: string,
    publish: "0" | "1"
  ): Promise<[number, number, string | null, number]>
}

/** One circuit as this process sees it: the last state read from Redis, and local transitions not yet written. */
class Cell {
  /** The stored version; -1 until Redis has been read. */
  version = -1
  remote: CircuitState | undefined = undefined
  view: CircuitState
  pending: Array<Transition> = []
  flushing = false
  /** One write at a time per circuit: a trial's admission waits for a flush in flight. */
  readonly lock = Effect.unsafeMakeSemaphore(1)
  /** Counts this process's writes: a read issued before one of them is stale when it returns. */
  writes = 0
  /** Used since the background loop last looked; it then sets `lastUsed`. */
  used = true
  lastUsed = 0

  constructor(
    readonly key: string,
    readonly name: string,
    readonly initial: CircuitState
  ) {
    this.view = initial
  }

  base(): CircuitState {
    return this.remote ?? this.initial
  }

  /** The local view: the stored state with the pending transitions applied. */
  replay(): void {
    let state = this.base()
    for (const f of this.pending) state = f(state)[1]
    this.view = state
  }
}

/** A command's send time, on the breakers' clock and on the host's (see `observeServerTime`). */
interface Sent {
  readonly local: number
  readonly host: number
}

/** What the store does while Redis cannot be reached, as the warning says it. */
const degradedMeaning: Record<API.WhenUnavailable, string> = {
  local: "circuits decide on local state",
  allow: "every call is admitted",
  reject: "every call is rejected"
}

/** When the current read-modify-write must be done by (epoch milliseconds), if one is running. */
const budgetEnds = FiberRef.unsafeMake<number | undefined>(undefined)

/** Rejects with a timeout error if `promise` has not settled within `millis`; never leaves a timer behind. */
const deadline = <A>(promise: Promise<A>, millis: number, what: string): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: timed out after ${Math.round(millis)} ms`)), millis)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error) => {
        clearTimeout(timer)
        reject(error)
      }
    )
  })

const policies: ReadonlyArray<unknown> = ["local", "allow", "reject"] satisfies Array<API.WhenUnavailable>

/** An option no store can work with: a defect, as an `IllegalArgumentException` naming it. */
const invalidOption = (options: API.Options): string | undefined => {
  if (options.whenUnavailable !== undefined && !policies.includes(options.whenUnavailable)) {
    return `whenUnavailable must be "local", "allow" or "reject" (got ${JSON.stringify(options.whenUnavailable)})`
  }
  return undefined
}

/** @internal */
export const make = (
  options: API.Options,
  client: Redis | undefined
): Effect.Effect<API.RedisStore, never, Scope.Scope> =>
  Effect.gen(function* () {
    const invalid = invalidOption(options)
    if (invalid !== undefined) {
      return yield* Effect.die(new Cause.IllegalArgumentException(`RedisCircuitBreakerStore: ${invalid}`))
    }
    const prefix = options.prefix ?? "cb:v1:"
    const channel = `${prefix}events`
    const storeTimeout = Duration.toMillis(Duration.decode(options.storeTimeout ?? 250))
    const flushInterval = Duration.decode(options.flushInterval ?? 100)
    const syncInterval = Duration.toMillis(Duration.decode(options.syncInterval ?? 1000))
    const idleTtl = Duration.toMillis(Duration.decode(options.idleTtl ?? "24 hours"))
    const instanceId = options.instanceId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
    const whenUnavailable = options.whenUnavailable ?? "local"
    const runtime = yield* Effect.runtime<never>()
    const clock: Clock.Clock = yield* Effect.clock
    /** The breakers' clock (the one in context when the store was made): the times in states are on it. */
    const localNow = () => clockNow(clock)
    /** The host's clock: the same as `localNow` in production, but real time under a test clock. */
    const hostNow = () => clockNow(liveClock)

    const hardened: RedisOptions = {
      // A command never waits for a connection: it fails at once, and the breaker decides locally.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: storeTimeout,
      connectTimeout: Math.max(storeTimeout, 1000),
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
      enableAutoPipelining: false
    }
    const owned = client === undefined
    const redis = (client ??
      (options.url !== undefined
        ? new Redis(options.url, { ...options.redis, ...hardened })
        : new Redis({ ...options.redis, ...hardened }))) as CommandClient
    const subscriber = redis.duplicate({ ...hardened, enableOfflineQueue: true, commandTimeout: undefined }) as Redis
    for (const script of scripts.all) {
      redis.defineCommand(script.name, {
        numberOfKeys: script.numberOfKeys,
        lua: script.lua,
        ...(script.readOnly ? { readOnly: true } : {})
      })
    }

    const cells = new Map<string, Cell>()
    const log = (effect: Effect.Effect<void>) =>
      Runtime.runFork(runtime)(effect.pipe(Effect.annotateLogs({ module: "RedisCircuitBreakerStore", instanceId })))

    /**
     * Whether Redis answers: `"unknown"` until the first connection or command settles, `"up"`
     * while it answers, `"down"` from a failed or timed-out command, or a connection that is not
     * ready, until it answers again. `whenUnavailable` applies while `"down"`.
     */
    let health: "unknown" | "up" | "down" = "unknown"
    /** When the current outage began (local time). */
    let downSince = 0
    /** `Date.now()` when Redis last answered a command. */
    let lastAnswer = 0
    /** Set once every function below exists, and cleared when the store is released. */
    let running = false
    let releasing = false
    const setHealthy = (next: boolean, reason?: string) => {
      if (releasing || health === (next ? "up" : "down")) return
      const recovered = health === "down"
      health = next ? "up" : "down"
      if (!next) downSince = localNow()
      log(
        next
          ? Effect.logInfo("Redis reachable: circuits are shared")
          : Effect.logWarning(`Redis unreachable: ${degradedMeaning[whenUnavailable]} (${redact(reason ?? "unknown")})`)
      )
      // Back from an outage: every circuit in use adopts what Redis holds now (a restart may have emptied it).
      if (recovered && running) for (const cell of cells.values()) log(Effect.ignore(refresh(cell)))
    }
    const onError = (error: Error) => setHealthy(false, error.message)
    redis.on("error", onError)
    const onClose = () => setHealthy(false, "connection closed")
    redis.on("close", onClose)
    const onReady = () => setHealthy(true)
    redis.on("ready", onReady)
    // The subscriber only speeds up what the poll does anyway: its trouble is not the store's
    // health (ioredis reconnects and resubscribes it).
    const onSubscriberError = (error: Error) => {
      if (!releasing) log(Effect.logDebug(`Redis subscriber: ${redact(error.message)}`))
    }
    subscriber.on("error", onSubscriberError)

    /**
     * Whether Redis is known to be unreachable now: an outage was seen, or the connection is not
     * ready (closed, reconnecting) even though no command has failed yet.
     */
    const unavailable = (): boolean => {
      if (health === "up" && redis.status !== "ready") setHealthy(false, `connection ${redis.status}`)
      return health === "down"
    }

    /**
     * What decisions see while Redis is unreachable, under `"allow"` (a Closed circuit) or
     * `"reject"` (an Open one, retried after a sync interval); `undefined` while it is reachable,
     * and always under `"local"` (the local view decides). It is never written: what callers do
     * meanwhile is not counted, and the circuit follows Redis again once it answers.
     */
    const unavailableView = (cell: Cell): CircuitState | undefined => {
      if (whenUnavailable === "local" || !unavailable()) return undefined
      const generation = cell.view.generation
      if (whenUnavailable === "allow") {
        return cell.initial._tag === "Closed" ? { ...cell.initial, generation, since: downSince } : cell.initial
      }
      return { _tag: "Open", generation, since: downSince, openedAt: downSince, retryAt: localNow() + syncInterval }
    }

    // Redis time minus local time, kept steady so that a state read back is the state written,
    // whatever the local clock does (a test clock jumps at will). It is measured again only when
    // Redis's clock moves against the host's real clock by more than a second (a clock step,
    // another Redis host). Comparing with the local clock instead would take every jump of a
    // test clock for a clock step, and move every stored deadline by the jump.
    let offset: number | undefined
    let hostOffset: number | undefined
    const observeServerTime = (server: number, sent: Sent) => {
      const host = Math.round(server - (sent.host + hostNow()) / 2)
      if (offset === undefined || hostOffset === undefined || Math.abs(host - hostOffset) > 1000) {
        offset = Math.round(server - (sent.local + localNow()) / 2)
        hostOffset = host
      }
    }
    const sentNow = (): Sent => ({ local: localNow(), host: hostNow() })
    const keyOf = (name: string) => `${prefix}{${escapeName(name)}}:s`

    // A command made while the connection is (re)opening waits for it, within the store
    // timeout; one listener serves every waiting command.
    let connected: Promise<void> | undefined
    const whenConnected = (): Promise<void> => {
      if (redis.status === "ready") return Promise.resolve()
      if (redis.status === "end") return Promise.reject(new Error("connection closed"))
      return (connected ??= new Promise<void>((resolve) =>
        redis.once("ready", () => {
          connected = undefined
          resolve()
        })
      ))
    }

    /**
     * Runs one Redis command, bounded by the store timeout, or by what is left of the
     * caller's budget (see `withinBudget`). The bound is a timer on the promise itself, not
     * an Effect interruption: the breaker asks for trial permits inside an uninterruptible
     * region, where an interruption would wait for the command to finish.
     */
    const withinBudget = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.suspend(() => Effect.locally(effect, budgetEnds, Date.now() + storeTimeout))

    const run = <A>(what: string, f: () => Promise<A>): Effect.Effect<A, CircuitStoreError> =>
      Effect.flatMap(FiberRef.get(budgetEnds), (ends) => {
        const limit = Math.min(storeTimeout, ends === undefined ? storeTimeout : ends - Date.now())
        if (limit <= 0) {
          // The earlier commands of this read-modify-write took the whole budget: no command
          // failed, so this says nothing about Redis's health.
          return Effect.fail(
            new CircuitStoreError({ reason: "Timeout", detail: `${what}: no time left within ${storeTimeout} ms` })
          )
        }
        return Effect.tryPromise({
          try: () => deadline(whenConnected().then(f), limit, what),
          catch: (cause) =>
            new CircuitStoreError({
              reason: /timed? ?out/i.test(String((cause as Error)?.message)) ? "Timeout" : "Unavailable",
              detail: `${what}: ${redact(String((cause as Error)?.message ?? cause))}`
            })
        }).pipe(
          Effect.tapBoth({
            onFailure: (error) => Effect.sync(() => setHealthy(false, error.detail)),
            onSuccess: () =>
              Effect.sync(() => {
                lastAnswer = Date.now()
                setHealthy(true)
              })
          })
        )
      })

    const decodeStored = (json: string | null): Either.Either<CircuitState | undefined, CircuitStoreError> => {
      if (json === null) return Either.right(undefined)
      return Either.mapBoth(codec.decode(json), {
        onLeft: (detail) => new CircuitStoreError({ reason: "Decode", detail }),
        onRight: (state) => codec.shiftTimes(state, -(offset ?? 0))
      })
    }

    /** Reads a circuit: its version and state (in local time), updating the clock offset. */
    const readKey = (key: string) =>
      Effect.flatMap(
        run("read", () => {
          const sent = sentNow()
          return redis.circuitBreakerRead(key).then((reply) => {
            observeServerTime(reply[4], sent)
            return reply
          })
        }),
        ([version, json, at, by]) =>
          Either.map(decodeStored(json), (state) => ({
            version,
            state,
            updatedAt: at === null ? null : Number(at),
            updatedBy: by
          }))
      )

    const casKey = (
      key: string,
      name: string,
      expected: number,
      previous: CircuitState | undefined,
      next: CircuitState
    ) =>
      // The clock offset must be known before a state is written in Redis time.
      Effect.zipRight(
        offset === undefined ? Effect.asVoid(readKey(key)) : Effect.void,
        Effect.flatMap(
          run("compareAndSet", () => {
            const sent = sentNow()
            const ttl = next._tag === "Open" ? Math.max(idleTtl, next.retryAt - sent.local + idleTtl) : idleTtl
            return redis
              .circuitBreakerCompareAndSet(
                key,
                expected,
                codec.encode(codec.shiftTimes(next, offset ?? 0)),
                instanceId,
                Math.ceil(ttl),
                channel,
                name,
                previous?._tag !== next._tag ? "1" : "0"
              )
              .then((reply) => {
                observeServerTime(reply[3], sent)
                return reply
              })
          }),
          ([won, version, json]) => Either.map(decodeStored(json), (state) => ({ won: won === 1, version, state }))
        )
      )

    const cellOf = (name: string, initial: CircuitState): Cell => {
      let cell = cells.get(name)
      if (cell === undefined) {
        cell = new Cell(keyOf(name), name, initial)
        cells.set(name, cell)
        log(Effect.ignore(refresh(cell)))
      }
      // A flag, not a clock read (on the call path, twice a call): the background loop dates it.
      cell.used = true
      return cell
    }

    /** Adopts what Redis holds for a cell. */
    const refresh = (cell: Cell): Effect.Effect<void, CircuitStoreError> =>
      Effect.suspend(() => {
        const writes = cell.writes
        return Effect.map(readKey(cell.key), ({ version, state }) => {
          if (cell.flushing || cell.writes !== writes) return
          cell.version = version
          cell.remote = state
          cell.replay()
        })
      })

    /**
     * Writes a cell's pending transitions: replays them on the stored state and
     * compare-and-sets the result, re-reading and replaying when another process wrote first.
     * `extra`, when given, runs last, and its result is returned (the authoritative path).
     */
    const write = <A>(
      cell: Cell,
      extra: ((state: CircuitState) => readonly [A, CircuitState]) | undefined
    ): Effect.Effect<A | undefined, CircuitStoreError> =>
      cell.lock.withPermits(1)(
        Effect.suspend(() => {
          const batch = cell.pending
          cell.pending = []
          cell.flushing = true
          const attempt = (n: number): Effect.Effect<A | undefined, CircuitStoreError> => {
            const base = cell.base()
            let next = base
            for (const f of batch) next = f(next)[1]
            let result: A | undefined
            if (extra !== undefined) {
              const [a, s] = extra(next)
              result = a
              next = s
            }
            if (next === base && cell.version >= 0) return Effect.succeed(result)
            return Effect.flatMap(
              casKey(cell.key, cell.name, Math.max(cell.version, 0), cell.remote, next),
              (reply) => {
                cell.version = reply.version
                cell.remote = reply.won ? next : reply.state
                cell.writes++
                if (reply.won) return Effect.succeed(result)
                if (n >= MAX_CAS_ATTEMPTS) {
                  return Effect.fail(
                    new CircuitStoreError({ reason: "Conflict", detail: `"${cell.name}" kept changing; gave up` })
                  )
                }
                return attempt(n + 1)
              }
            )
          }
          const start =
            cell.version < 0
              ? Effect.zipRight(
                  readKey(cell.key).pipe(
                    Effect.tap(({ version, state }) => {
                      cell.version = version
                      cell.remote = state
                    })
                  ),
                  attempt(1)
                )
              : attempt(1)
          return start.pipe(
            Effect.tapError(() =>
              Effect.sync(() => {
                // Keep the transitions for the next try, bounded while Redis is away.
                cell.pending = [...batch, ...cell.pending].slice(-MAX_PENDING)
              })
            ),
            Effect.ensuring(
              Effect.sync(() => {
                cell.flushing = false
                cell.replay()
              })
            )
          )
        })
      )

    // A flush holds the cell's lock for one store timeout at most, as the authoritative path does:
    // a trial's admission never waits behind a longer write.
    const flush = (cell: Cell) =>
      cell.flushing || cell.pending.length === 0 ? Effect.void : Effect.ignore(withinBudget(write(cell, undefined)))

    const unsafeGet = (name: string, initial: CircuitState): CircuitState => {
      const cell = cellOf(name, initial)
      return unavailableView(cell) ?? cell.view
    }

    const unsafeModify = <A>(
      name: string,
      initial: CircuitState,
      f: (s: CircuitState) => readonly [A, CircuitState]
    ): A => {
      const cell = cellOf(name, initial)
      const unavailableState = unavailableView(cell)
      if (unavailableState !== undefined) return f(unavailableState)[0]
      const before = cell.view
      const [result, next] = f(before)
      if (next !== before) {
        cell.view = next
        cell.pending.push(f)
        if (cell.pending.length > MAX_PENDING) cell.pending.shift()
        // A change of state is written (and announced) at once; counts go out with the next flush.
        if (next._tag !== before._tag) log(flush(cell))
      }
      return result
    }

    const store: API.RedisStore = {
      shared: true,
      instanceId,
      get: (name) =>
        Effect.map(readKey(keyOf(name)), ({ version, state }) =>
          state === undefined ? Option.none() : Option.some({ version, state })
        ),
      compareAndSet: (name, expected, next) =>
        Effect.suspend(() => {
          const cell = cells.get(name)
          return Effect.map(casKey(keyOf(name), name, expected, cell?.remote, next), (reply) => {
            if (cell !== undefined && !cell.flushing) {
              cell.version = reply.version
              cell.remote = reply.won ? next : reply.state
              cell.replay()
            }
            return reply.won
          })
        }),
      modify: (name, initial, f) =>
        Effect.suspend(() => {
          const cell = cellOf(name, initial)
          // Redis is known to be away: the policy decides at once, with no command to wait for.
          const unavailableState = unavailableView(cell)
          if (unavailableState !== undefined) return Effect.succeed(f(unavailableState)[0])
          // A flush of this cell may be running: both compare-and-set, and the loser re-reads and replays.
          const authoritative = Effect.zipRight(refresh(cell), write(cell, f)) as Effect.Effect<any, CircuitStoreError>
          // Every command of this read-modify-write shares one budget: the store timeout.
          return withinBudget(authoritative)
        }),
      unsafeModify,
      unsafeGet,
      delete: (name) =>
        Effect.asVoid(
          Effect.zipRight(
            Effect.sync(() => cells.delete(name)),
            run("delete", () => redis.del(keyOf(name)))
          )
        ),
      snapshot: (name) =>
        Effect.map(readKey(keyOf(name)), ({ version, state, updatedAt, updatedBy }) =>
          state === undefined ? Option.none() : Option.some({ name, version, state, updatedAt, updatedBy })
        ),
      listCircuits: Effect.suspend(() => {
        const names: Array<string> = []
        const scan = (cursor: string): Effect.Effect<ReadonlyArray<string>, CircuitStoreError> =>
          Effect.flatMap(
            run("scan", () => redis.scan(cursor, "MATCH", `${prefix}{*}:s`, "COUNT", 200)),
            ([next, keys]) => {
              for (const key of keys) {
                const inner = key.slice(prefix.length + 1, -3)
                names.push(decodeURIComponent(inner))
              }
              return next === "0" ? Effect.succeed(names) : scan(next)
            }
          )
        return scan("0")
      }),
      isHealthy: () => health === "up" && redis.status === "ready"
    }

    // Announced changes from other processes: adopt them at once.
    subscriber.on("message", (_channel: string, name: string) => {
      const cell = cells.get(name)
      if (cell !== undefined) log(Effect.ignore(refresh(cell)))
    })
    // After a reconnect, messages may have been lost: re-read everything.
    subscriber.on("ready", () => {
      for (const cell of cells.values()) log(Effect.ignore(refresh(cell)))
    })
    subscriber.subscribe(channel).catch(() => {
      // Retried by ioredis on reconnect (autoResubscribe); until then the poll below keeps circuits in step.
    })

    // Counts go out every flushInterval; every syncInterval the circuits in use are re-read
    // (a lost message, a restart of Redis), and the ones unused for long are forgotten.
    // Redis's absence is noticed, and its return, with a PING when nothing else asked it: every
    // flushInterval while it is away, and while it is up when a policy other than "local" must
    // know at once that it went away (a frozen server keeps its connections open).
    let lastSync = 0
    const ping = Effect.ignore(run("ping", () => redis.ping()))
    yield* Effect.forkScoped(
      Effect.repeat(
        Effect.suspend(() => {
          const now = Date.now()
          const sync = now - lastSync >= syncInterval
          if (sync) lastSync = now
          const quiet = now - lastAnswer >= Duration.toMillis(flushInterval)
          const probe =
            redis.status === "ready" && quiet && (health !== "up" || whenUnavailable !== "local") ? ping : Effect.void
          return Effect.zip(
            probe,
            Effect.forEach(
              cells.values(),
              (cell) => {
                if (cell.used) {
                  cell.used = false
                  cell.lastUsed = now
                }
                if (sync && now - cell.lastUsed > 10 * 60_000 && cell.pending.length === 0) {
                  cells.delete(cell.name)
                  return Effect.void
                }
                return Effect.zipRight(flush(cell), sync && !cell.flushing ? Effect.ignore(refresh(cell)) : Effect.void)
              },
              { discard: true, concurrency: "unbounded" }
            ),
            { concurrent: true }
          )
        }),
        Schedule.spaced(flushInterval)
      ).pipe(Effect.interruptible, Effect.withClock(liveClock))
    )

    yield* Effect.addFinalizer(() =>
      Effect.withClock(liveClock)(
        Effect.gen(function* () {
          yield* Effect.forEach(cells.values(), flush, { discard: true, concurrency: "unbounded" }).pipe(
            Effect.timeout(storeTimeout),
            Effect.ignore
          )
          // Closing the connections is no outage.
          releasing = true
          subscriber.removeAllListeners("message")
          // Finalizers cannot be interrupted: the quit is bounded by a timer of its own.
          const close = (connection: Redis) =>
            Effect.promise(() =>
              deadline(connection.quit(), storeTimeout, "quit").then(
                () => undefined,
                () => undefined
              )
            ).pipe(Effect.ensuring(Effect.sync(() => connection.disconnect())))
          yield* close(subscriber)
          if (owned) yield* close(redis)
          // Listeners stay until the connections are closed, so that a late error is never unhandled.
          subscriber.off("error", onSubscriberError)
          if (owned) redis.off("error", onError)
          redis.off("close", onClose)
          redis.off("ready", onReady)
        })
      )
    )
    running = true
    return store
  })
