/**
 * A `CircuitBreakerStore` in Redis: every process that uses the same circuit name (and
 * prefix) shares one circuit.
 *
 * - Closed and Open decisions are made on a local view, with no Redis round trip on the
 *   caller's path; outcomes are written in batches (every `flushInterval`) and a change of
 *   state at once, with compare-and-set on a version, replaying the pure transitions on
 *   what Redis holds (so failures seen by every process add up, and a race has one winner).
 * - Changes are announced on a pub/sub channel; a poll every `syncInterval` of one change
 *   count per Redis node catches what a lost message missed.
 * - A Half-Open trial's admission and outcome are written at once (one bounded round trip),
 *   so the trial limit holds across processes.
 * - No command waits longer than `storeTimeout`; when Redis cannot be reached the breaker
 *   decides as `whenUnavailable` says (on its local view by default), and Redis trouble is
 *   never counted as a failure of the service.
 *
 * ```ts
 * import { RedisCircuitBreakerStore } from "@circuit-breaker/redis"
 *
 * program.pipe(Effect.provide(RedisCircuitBreakerStore.layer({ url: "redis://localhost:6379" })))
 * ```
 *
 * @since 0.1.0
 */
import { type CircuitBreakerState, CircuitBreakerStore, type CircuitStoreError } from "@circuit-breaker/core"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from "ioredis"
import * as internal from "./internal/store.js"

/**
 * What the breaker does while Redis cannot be reached (a failed or timed-out command, or a
 * connection that is not ready), until Redis answers again:
 *
 * - `"local"`: the local view decides, as if the circuit lived in this process; what happens
 *   meanwhile is written when Redis returns, replayed on what Redis holds then.
 * - `"allow"`: fail open. Every call is admitted (the breaker sees a Closed circuit), and what
 *   callers see meanwhile is not counted: nothing can trip, nothing is left to reconcile.
 * - `"reject"`: fail closed. Every call is rejected with a `CircuitOpenError` (the breaker sees an
 *   Open circuit, to retry after `syncInterval`), at once, never waiting on Redis.
 *
 * Under `"allow"` and `"reject"` the circuit follows what Redis holds again as soon as it answers.
 *
 * @since 0.1.0
 * @category models
 */
export type WhenUnavailable = "local" | "allow" | "reject"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** A `redis://` or `rediss://` URL (user, password and TLS as in the URL). */
  readonly url?: string | undefined
  /**
   * ioredis options (host, port, password, tls, sentinels, …). Our timeouts and queueing
   * settings override theirs (see {@link hardenedOptions}).
   */
  readonly redis?: RedisOptions | undefined
  /**
   * A Redis Cluster: its nodes (any few of them; the rest are discovered) and ioredis Cluster
   * options. Every circuit lives in one slot; `listCircuits` scans every master.
   */
  readonly cluster?: { readonly nodes: ReadonlyArray<ClusterNode>; readonly options?: ClusterOptions } | undefined
  /** Prepended to every key and to the channel (default `"cb:v1:"`): namespaces circuits in a shared Redis. */
  readonly prefix?: string | undefined
  /** The longest any caller waits on Redis (default 250 ms). */
  readonly storeTimeout?: Duration.DurationInput | undefined
  /** How often counts are written (default 100 ms). */
  readonly flushInterval?: Duration.DurationInput | undefined
  /**
   * How often each Redis node's marker and change count are read (default 1 s): a lost
   * announcement, or a node that lost its data, is noticed within about this long, and the
   * circuits in use are read again.
   */
  readonly syncInterval?: Duration.DurationInput | undefined
  /** How long an idle circuit's key lives (default 24 h; never while the circuit is open). */
  readonly idleTtl?: Duration.DurationInput | undefined
  /**
   * The longest a circuit can stay Open (default 24 h): a state read from Redis whose
   * `retryAt` is further away is corrupt, logged and written over. Keep it above every
   * breaker's `resetTimeout`.
   */
  readonly maxOpenPeriod?: Duration.DurationInput | undefined
  /** Names this process in the stored state (default host:pid:random). */
  readonly instanceId?: string | undefined
  /**
   * What the breaker does while Redis cannot be reached: decide on its local view (`"local"`, the
   * default), admit every call (`"allow"`, fail open) or reject every call (`"reject"`, fail
   * closed). Any other value is a defect (an `IllegalArgumentException`). See {@link WhenUnavailable}.
   */
  readonly whenUnavailable?: WhenUnavailable | undefined
}

/**
 * What Redis holds for a circuit.
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  readonly name: string
  readonly version: number
  readonly state: CircuitBreakerState.CircuitState<unknown>
  /** When it was last written (Redis time, milliseconds), and by which instance. */
  readonly updatedAt: number | null
  readonly updatedBy: string | null
}

/**
 * The store, with what only a shared store can tell.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisStore extends CircuitBreakerStore.Store {
  readonly instanceId: string
  /** What Redis holds for a circuit, read now. */
  readonly snapshot: (name: string) => Effect.Effect<Option.Option<Snapshot>, CircuitStoreError>
  /** The names of every circuit under the prefix (SCAN, never KEYS). */
  readonly listCircuits: Effect.Effect<ReadonlyArray<string>, CircuitStoreError>
  /**
   * Whether Redis answers: the last command reached it and the connection is ready. `false`
   * before the first connection, and while `whenUnavailable` applies.
   */
  readonly isHealthy: () => boolean
  /**
   * The same store (its connections, its view of every circuit) under another
   * `whenUnavailable` policy: breakers sharing one store each keep their own.
   */
  readonly withPolicy: (whenUnavailable: WhenUnavailable) => RedisStore
}

/**
 * A client the store can use: a Redis (single node or Sentinel) or a Cluster.
 *
 * @since 0.1.0
 * @category models
 */
export type Client = Redis | Cluster

/**
 * Whether ioredis can parse `url`. It throws when it cannot, with the whole URL (password included) in the error's
 * `input`: such a URL is turned away here instead, without showing it.
 */
const isParsableUrl = (url: string): boolean => {
  // A Unix socket path is not parsed as a URL.
  if (url.startsWith("/") && !url.startsWith("//")) return true
  try {
    new URL(/^rediss?:\/\//i.test(url) ? url : url.startsWith("//") ? `redis:${url}` : `redis://${url}`)
    return true
  } catch {
    return false
  }
}

const invalidUrl = "is not a valid redis:// or rediss:// URL (not shown: it may hold a password)"

/**
 * A store over a connection of its own, closed with the scope. A `url` that cannot be parsed is a defect (an
 * `IllegalArgumentException` that does not show the URL).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<RedisStore, never, Scope.Scope> =>
  Effect.suspend(() => {
    if (options.url !== undefined && !isParsableUrl(options.url)) {
      return Effect.die(new Cause.IllegalArgumentException(`RedisCircuitBreakerStore: the url ${invalidUrl}`))
    }
    if (options.cluster !== undefined && (options.url !== undefined || options.cluster.nodes.length === 0)) {
      return Effect.die(
        new Cause.IllegalArgumentException(
          "RedisCircuitBreakerStore: cluster needs at least one node, and excludes url"
        )
      )
    }
    return internal.make(options, undefined)
  })

/**
 * A store over an ioredis client you own, a `Redis` or a `Cluster`: it is used as it is and
 * never closed. The store opens its subscriber connections, closed with the scope: one, and
 * on a `Cluster` one on each master too.
 * Its settings are yours: give it {@link hardenedOptions} (for a Cluster, `enableOfflineQueue`
 * at the top level) so that a command never waits for a connection.
 *
 * @example
 * ```ts
 * import { RedisCircuitBreakerStore } from "@circuit-breaker/redis"
 * import { Cluster } from "ioredis"
 *
 * const cluster = new Cluster([{ host: "10.0.0.1", port: 7000 }], {
 *   enableOfflineQueue: false,
 *   redisOptions: RedisCircuitBreakerStore.hardenedOptions(250)
 * })
 * const runnable = program.pipe(Effect.provide(RedisCircuitBreakerStore.layerFromClient(cluster)))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFromClient = (
  client: Client,
  options: Omit<Options, "url" | "redis" | "cluster"> = {}
): Effect.Effect<RedisStore, never, Scope.Scope> => internal.make(options, client)

/**
 * The store as a Layer, in place of `CircuitBreakerStore.layerMemory`.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@circuit-breaker/core"
 * import { RedisCircuitBreakerStore } from "@circuit-breaker/redis"
 * import { Effect } from "effect"
 *
 * // every process running this shares the "payments" circuit
 * const program = Effect.gen(function* () {
 *   const breaker = yield* CircuitBreaker.make({ name: "payments" })
 *   return yield* breaker.execute(Effect.succeed("paid"))
 * }).pipe(Effect.provide(RedisCircuitBreakerStore.layer({ url: "redis://localhost:6379" })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<CircuitBreakerStore.CircuitBreakerStore> =>
  Layer.scoped(CircuitBreakerStore.CircuitBreakerStore, make(options))

/**
 * The store as a Layer over a client you own.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromClient = (
  client: Client,
  options: Omit<Options, "url" | "redis" | "cluster"> = {}
): Layer.Layer<CircuitBreakerStore.CircuitBreakerStore> =>
  Layer.scoped(CircuitBreakerStore.CircuitBreakerStore, makeFromClient(client, options))

/**
 * `host:port` pairs, comma-separated (as in `REDIS_CLUSTER_NODES`), as Cluster nodes;
 * `undefined` when one is not a `host:port`.
 *
 * @since 0.1.0
 * @category utils
 */
export const parseClusterNodes = (text: string): ReadonlyArray<{ host: string; port: number }> | undefined => {
  const nodes: Array<{ host: string; port: number }> = []
  for (const part of text.split(",")) {
    const match = /^\s*\[?([^\s\]]+?)\]?:(\d{1,5})\s*$/.exec(part)
    const port = match === null ? Number.NaN : Number(match[2])
    if (match === null || port < 1 || port > 65535) return undefined
    nodes.push({ host: match[1]!, port })
  }
  return nodes.length === 0 ? undefined : nodes
}

/**
 * The store from configuration: a Cluster from `REDIS_CLUSTER_NODES` (`host:port`,
 * comma-separated) when it is set, the URL from `REDIS_URL` otherwise (kept redacted: it never
 * appears in logs or errors; one that cannot be parsed is a `ConfigError`), the prefix from
 * `CIRCUIT_BREAKER_REDIS_PREFIX`.
 *
 * @example
 * ```ts
 * import { RedisCircuitBreakerStore } from "@circuit-breaker/redis"
 * import { Effect } from "effect"
 *
 * // REDIS_URL=rediss://user:secret@cache:6380 in the environment,
 * // or REDIS_CLUSTER_NODES=10.0.0.1:7000,10.0.0.2:7000 for a Cluster
 * const runnable = program.pipe(Effect.provide(RedisCircuitBreakerStore.layerConfig()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "url"> = {}
): Layer.Layer<CircuitBreakerStore.CircuitBreakerStore, import("effect/ConfigError").ConfigError> =>
  Layer.scoped(
    CircuitBreakerStore.CircuitBreakerStore,
    Effect.gen(function* () {
      const prefix = yield* Config.option(Config.string("CIRCUIT_BREAKER_REDIS_PREFIX"))
      const withPrefix = { ...options, ...(prefix._tag === "Some" ? { prefix: prefix.value } : {}) }
      const nodes = yield* Config.option(
        Config.string("REDIS_CLUSTER_NODES").pipe(
          Config.mapOrFail((text) => {
            const parsed = parseClusterNodes(text)
            return parsed === undefined
              ? Either.left(ConfigError.InvalidData([], "REDIS_CLUSTER_NODES must be host:port pairs, comma-separated"))
              : Either.right(parsed)
          })
        )
      )
      if (nodes._tag === "Some") {
        return yield* make({ ...withPrefix, cluster: { ...options.cluster, nodes: nodes.value } })
      }
      const url = yield* Config.redacted("REDIS_URL").pipe(
        Config.validate({ message: `REDIS_URL ${invalidUrl}`, validation: (url) => isParsableUrl(Redacted.value(url)) })
      )
      return yield* make({ ...withPrefix, url: Redacted.value(url) })
    })
  )

/**
 * The settings the store gives the connections it opens (and that a client you pass should
 * have): no offline queue (a command fails at once when it cannot be sent), no retries of a
 * command, a command timeout a second beyond `storeTimeout` (the store bounds every command by
 * `storeTimeout` itself, and takes a reply that arrived while the process could not run), a
 * short connect timeout, reconnection for ever.
 *
 * @since 0.1.0
 * @category utils
 */
export const hardenedOptions: (storeTimeout: number) => RedisOptions = internal.hardenedOptions

/**
 * Removes credentials from a text that may hold a Redis URL or password.
 *
 * @since 0.1.0
 * @category utils
 */
export const redact: (text: string) => string = internal.redact
