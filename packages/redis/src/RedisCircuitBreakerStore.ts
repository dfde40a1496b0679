/**
 * A `CircuitBreakerStore` in Redis: every process that uses the same circuit name (and
 * prefix) shares one circuit.
 *
 * - Closed and Open decisions are made on a local view, with no Redis round trip on the
 *   caller's path; outcomes are written in batches (every `flushInterval`) and a change of
 *   state at once, with compare-and-set on a version, replaying the pure transitions on
 *   what Redis holds (so failures seen by every process add up, and a race has one winner).
 * - Changes are announced on a pub/sub channel; a poll every `syncInterval` catches what a
 *   lost message missed.
 * - A Half-Open trial's admission and outcome are written at once (one bounded round trip),
 *   so the trial limit holds across processes.
 * - No command waits longer than `storeTimeout`; when Redis cannot be reached the breaker
 *   decides on its local view, and Redis trouble is never counted as a failure of the service.
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
import * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { Redis, RedisOptions } from "ioredis"
import * as internal from "./internal/store.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** A `redis://` or `rediss://` URL (user, password and TLS as in the URL). */
  readonly url?: string | undefined
  /** ioredis options (host, port, password, tls, …). Our timeouts and queueing settings override theirs. */
  readonly redis?: RedisOptions | undefined
  /** Prepended to every key and to the channel (default `"cb:v1:"`): namespaces circuits in a shared Redis. */
  readonly prefix?: string | undefined
  /** The longest any caller waits on Redis (default 250 ms). */
  readonly storeTimeout?: Duration.DurationInput | undefined
  /** How often counts are written (default 100 ms). */
  readonly flushInterval?: Duration.DurationInput | undefined
  /** How often the circuits in use are re-read (default 1 s). */
  readonly syncInterval?: Duration.DurationInput | undefined
  /** How long an idle circuit's key lives (default 24 h; never while the circuit is open). */
  readonly idleTtl?: Duration.DurationInput | undefined
  /** Names this process in the stored state (default host:pid:random). */
  readonly instanceId?: string | undefined
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
  /** Whether the last command reached Redis. */
  readonly isHealthy: () => boolean
}

/**
 * A store over a connection of its own, closed with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<RedisStore, never, Scope.Scope> =>
  internal.make(options, undefined)

/**
 * A store over an ioredis client you own: it is used as it is and never closed (the store
 * opens one subscriber connection of its own, closed with the scope).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFromClient = (
  client: Redis,
  options: Omit<Options, "url" | "redis"> = {}
): Effect.Effect<RedisStore, never, Scope.Scope> => internal.make(options, client)

/**
 * The store as a Layer, in place of `CircuitBreakerStore.layerMemory`.
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
  client: Redis,
  options: Omit<Options, "url" | "redis"> = {}
): Layer.Layer<CircuitBreakerStore.CircuitBreakerStore> =>
  Layer.scoped(CircuitBreakerStore.CircuitBreakerStore, makeFromClient(client, options))

/**
 * The store from configuration: the URL from `REDIS_URL` (kept redacted: it never appears
 * in logs or errors), the prefix from `CIRCUIT_BREAKER_REDIS_PREFIX`.
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
      const url = yield* Config.redacted("REDIS_URL")
      const prefix = yield* Config.option(Config.string("CIRCUIT_BREAKER_REDIS_PREFIX"))
      return yield* make({
        ...options,
        url: Redacted.value(url),
        ...(prefix._tag === "Some" ? { prefix: prefix.value } : {})
      })
    })
  )

/**
 * Removes credentials from a text that may hold a Redis URL or password.
 *
 * @since 0.1.0
 * @category utils
 */
export const redact: (text: string) => string = internal.redact
