// The Effect runtime and the Redis store are loaded by `open` only: importing the Promise API loads neither.
import type * as CircuitBreaker from "@circuit-breaker/core/CircuitBreaker"
import { CircuitBreakerConfigError } from "@circuit-breaker/core/CircuitBreakerError"
import type * as CircuitBreakerStore from "@circuit-breaker/core/CircuitBreakerStore"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as API from "../AdvancedCircuitBreaker.js"

/** Where the shared store connects: a URL, ioredis options, a client the caller owns, or Cluster nodes. */
export type RedisTarget =
  | { readonly _tag: "Url"; readonly url: string }
  | { readonly _tag: "Options"; readonly options: Record<string, unknown> }
  | { readonly _tag: "Client"; readonly client: object }
  | { readonly _tag: "Cluster"; readonly nodes: ReadonlyArray<unknown>; readonly options: object | undefined }

const isClient = (u: unknown): u is object =>
  typeof u === "object" &&
  u !== null &&
  typeof (u as { duplicate?: unknown }).duplicate === "function" &&
  typeof (u as { defineCommand?: unknown }).defineCommand === "function"

/**
 * A variable from a `.env` file in the working directory, if there is one. Node's own parser;
 * the built-ins are reached through `process` only here, so that a bundle for another platform
 * reaches none.
 */
const fromDotEnv = (cwd: string, name: string): string | undefined => {
  const { readFileSync } = process.getBuiltinModule("node:fs")
  const { parseEnv } = process.getBuiltinModule("node:util")
  let text: string
  try {
    text = readFileSync(`${cwd}/.env`, "utf8")
  } catch {
    return undefined
  }
  return parseEnv(text)[name]
}

const targetReason =
  "must be a redis:// or rediss:// URL, ioredis options, an ioredis Redis or Cluster, or { clusterNodes }"

/** `host:port` pairs, comma-separated, as Cluster nodes. */
const clusterNodesOf = (text: string): RedisTarget => {
  const nodes = text.split(",").map((part) => {
    const match = /^\s*\[?([^\s\]]+?)\]?:(\d{1,5})\s*$/.exec(part)
    if (match === null) {
      throw new CircuitBreakerConfigError({
        option: "REDIS_CLUSTER_NODES",
        value: text,
        reason: "must be host:port pairs, comma-separated"
      })
    }
    return { host: match[1]!, port: Number(match[2]) }
  })
  return { _tag: "Cluster", nodes, options: undefined }
}

const explicitTarget = (redis: NonNullable<API.Options["redis"]>): RedisTarget => {
  if (typeof redis === "string") {
    if (!/^rediss?:\/\//i.test(redis)) {
      throw new CircuitBreakerConfigError({ option: "redis", value: "(redacted)", reason: targetReason })
    }
    return { _tag: "Url", url: redis }
  }
  if (isClient(redis)) return { _tag: "Client", client: redis }
  if (typeof redis === "object" && redis !== null && !Array.isArray(redis)) {
    const { clusterNodes, clusterOptions } = redis as { clusterNodes?: unknown; clusterOptions?: unknown }
    if (clusterNodes === undefined) return { _tag: "Options", options: redis as Record<string, unknown> }
    if (Array.isArray(clusterNodes) && clusterNodes.length > 0) {
      return { _tag: "Cluster", nodes: clusterNodes, options: clusterOptions as object | undefined }
    }
  }
  throw new CircuitBreakerConfigError({ option: "redis", value: "(redacted)", reason: targetReason })
}

/**
 * The explicit `redis` option first, then `REDIS_CLUSTER_NODES`, then `REDIS_URL`, from the
 * environment and then from a `.env` file in the working directory. Throws a config error
 * naming `redis` otherwise.
 */
export const resolveTarget = (redis: API.Options["redis"], cwd = process.cwd()): RedisTarget => {
  if (redis !== undefined) return explicitTarget(redis)
  const nodes = process.env.REDIS_CLUSTER_NODES || fromDotEnv(cwd, "REDIS_CLUSTER_NODES")
  if (nodes) return clusterNodesOf(nodes)
  const url = process.env.REDIS_URL || fromDotEnv(cwd, "REDIS_URL")
  if (url) return { _tag: "Url", url }
  throw new CircuitBreakerConfigError({
    option: "redis",
    value: undefined,
    reason:
      "distributedTracking needs Redis: set REDIS_URL or REDIS_CLUSTER_NODES, put one in a .env file in the working directory, or pass the redis option"
  })
}

/** The `store` option, checked. */
export interface StoreOptions {
  readonly prefix: string | undefined
  readonly whenUnavailable: "local" | "allow" | "reject"
  readonly storeTimeout: number | undefined
  readonly log: "silent" | ((entry: API.StoreLogEntry) => void) | undefined
}

const invalid = (option: string, value: unknown, reason: string) =>
  new CircuitBreakerConfigError({ option: `store.${option}`, value, reason })

/** Checks the `store` option; throws a config error naming the field that is wrong. */
export const resolveStoreOptions = (store: API.Options["store"]): StoreOptions => {
  if (store !== undefined && (typeof store !== "object" || store === null || Array.isArray(store))) {
    throw new CircuitBreakerConfigError({ option: "store", value: store, reason: "must be an object" })
  }
  const { prefix, whenUnavailable = "local", storeTimeout, log } = store ?? {}
  if (prefix !== undefined && (typeof prefix !== "string" || prefix.length === 0)) {
    throw invalid("prefix", prefix, "must be a non-empty string")
  }
  if (!["local", "allow", "reject"].includes(whenUnavailable as string)) {
    throw invalid("whenUnavailable", whenUnavailable, 'must be "local", "allow" or "reject"')
  }
  if (storeTimeout !== undefined && !(typeof storeTimeout === "number" && storeTimeout > 0 && storeTimeout < 2 ** 31)) {
    throw invalid("storeTimeout", storeTimeout, "must be a positive number of milliseconds")
  }
  if (log !== undefined && log !== "silent" && typeof log !== "function") {
    throw invalid("log", log, 'must be "silent" or a function')
  }
  return { prefix, whenUnavailable, storeTimeout, log }
}

/** Where a breaker's shared store connects, and with which settings. */
export type SharedTarget = readonly [RedisTarget, StoreOptions]

/** The part of the Redis store the Promise API uses. */
export interface SharedStore extends CircuitBreakerStore.Store {
  readonly snapshot: (name: string) => Effect.Effect<
    import("effect/Option").Option<{
      readonly state: import("@circuit-breaker/core").CircuitBreakerState.CircuitState<unknown>
      readonly updatedAt: number | null
      readonly updatedBy: string | null
    }>,
    unknown
  >
  readonly listCircuits: Effect.Effect<ReadonlyArray<string>, unknown>
  readonly withPolicy: (whenUnavailable: "local" | "allow" | "reject") => SharedStore
}

/** A shared store being opened: usable once `ready` resolves; `close` gives this breaker's use of it back. */
export interface Connection {
  readonly ready: Promise<SharedStore>
  close(): Promise<void>
  /** Runs a store operation with the store's logger; an `Either` of its outcome. */
  runEither<A, E>(effect: Effect.Effect<A, E>): Promise<Either.Either<A, E>>
  /** Runs a store operation with the store's logger; rejects with its error itself (a `CircuitStoreError`). */
  runOrThrow<A, E>(effect: Effect.Effect<A, E>): Promise<A>
}

interface Opened {
  readonly ready: Promise<SharedStore>
  close(): Promise<void>
  runEither<A, E>(effect: Effect.Effect<A, E>): Promise<Either.Either<A, E>>
  runOrThrow<A, E>(effect: Effect.Effect<A, E>): Promise<A>
}

/**
 * Opens the Redis store. Its code, and the Effect runtime that runs it, are loaded only now,
 * when a breaker asks for it. Its logs (and those of every fiber it forks) go to `log`, or
 * nowhere: the Promise API is silent by default.
 */
const open = (target: RedisTarget, options: StoreOptions): Opened => {
  const common = {
    ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
    ...(options.storeTimeout !== undefined ? { storeTimeout: Duration.millis(options.storeTimeout) } : {})
  }
  const loaded = Promise.all([
    import("effect/Effect"),
    import("effect/Cause"),
    import("effect/Exit"),
    import("effect/Scope"),
    import("./storeLogger.js"),
    import("@circuit-breaker/redis")
  ]).then(([Effect, Cause, Exit, Scope, { withStoreLog }, { RedisCircuitBreakerStore }]) => {
    const logged = <A, E>(effect: Effect.Effect<A, E>) => withStoreLog(effect, options.log)
    const scope = Effect.runSync(Scope.make())
    const make =
      target._tag === "Client"
        ? RedisCircuitBreakerStore.makeFromClient(target.client as never, common)
        : RedisCircuitBreakerStore.make({
            ...common,
            ...(target._tag === "Url"
              ? { url: target.url }
              : target._tag === "Options"
                ? { redis: target.options }
                : { cluster: { nodes: target.nodes as never, options: target.options as never } })
          })
    return {
      ready: Effect.runPromise(logged(Scope.extend(make, scope))) as Promise<SharedStore>,
      close: () => Effect.runPromise(logged(Scope.close(scope, Exit.void))),
      runEither: <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(Effect.either(logged(effect))),
      runOrThrow: <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.runPromiseExit(logged(effect)).then((exit) => {
          if (Exit.isSuccess(exit)) return exit.value
          throw Cause.squash(exit.cause)
        })
    }
  })
  const ready = loaded.then(({ ready }) => ready)
  // A failure to load is reported by whoever awaits `ready`; never as an unhandled rejection.
  ready.catch(() => {})
  return {
    ready,
    close: () =>
      loaded.then(
        ({ close }) => close(),
        () => undefined
      ),
    runEither: (effect) => loaded.then(({ runEither }) => runEither(effect)),
    runOrThrow: (effect) => loaded.then(({ runOrThrow }) => runOrThrow(effect))
  }
}

interface Entry {
  readonly key: string
  refs: number
  readonly opened: ReturnType<typeof open>
  /** The circuits in use through this store, with the options that shape their shared state. */
  readonly circuits: Map<string, { readonly shape: string; users: number }>
  /** The store under each \`whenUnavailable\` policy asked for, once open. */
  readonly views: { [K in StoreOptions["whenUnavailable"]]?: Promise<SharedStore> }
}

/** One store per target (URL, options, client or nodes) and store settings, shared by every breaker naming it. */
const stores = new Map<string, Entry>()
const ids = new WeakMap<object, number>()
let nextId = 0
const idOf = (value: object): number => {
  let id = ids.get(value)
  if (id === undefined) ids.set(value, (id = ++nextId))
  return id
}

const keyOf = (target: RedisTarget, options: StoreOptions): string => {
  const where =
    target._tag === "Url"
      ? `url:${target.url}`
      : target._tag === "Client"
        ? `client:${idOf(target.client)}`
        : target._tag === "Options"
          ? `options:${idOf(target.options)}`
          : `cluster:${JSON.stringify(target.nodes)}`
  const log = typeof options.log === "function" ? `fn:${idOf(options.log)}` : String(options.log)
  return JSON.stringify([where, options.prefix ?? "", options.storeTimeout ?? "", log])
}

/** The options that shape a circuit's shared state: breakers naming one circuit must agree on them. */
const shapeOf = (options: CircuitBreaker.CircuitBreaker.Resolved): string =>
  JSON.stringify([
    options.failureThreshold,
    Duration.toMillis(options.resetTimeout),
    options.successThreshold,
    options.maxConcurrentTrials,
    Duration.isFinite(options.trialPermitTtl) ? Duration.toMillis(options.trialPermitTtl) : null
  ])

/**
 * This breaker's use of the shared store for `target`: the store is opened by the first
 * breaker and closed when the last one gives it back. A breaker naming a circuit already in
 * use through that store with other state-shaping options is a config error.
 */
export const connect = (
  target: RedisTarget,
  options: StoreOptions,
  breaker: CircuitBreaker.CircuitBreaker.Resolved
): Connection => {
  const key = keyOf(target, options)
  let entry = stores.get(key)
  const shape = shapeOf(breaker)
  const circuit = entry?.circuits.get(breaker.name)
  if (circuit !== undefined && circuit.shape !== shape) {
    throw new CircuitBreakerConfigError({
      option: "name",
      value: breaker.name,
      reason:
        "is already used in this process through the same store with other failureThreshold, resetTimeout, successThreshold, maxConcurrentTrials or trialPermitTtl"
    })
  }
  if (entry === undefined) {
    stores.set(key, (entry = { key, refs: 0, opened: open(target, options), circuits: new Map(), views: {} }))
  }
  entry.refs++
  if (circuit === undefined) entry.circuits.set(breaker.name, { shape, users: 1 })
  else circuit.users++
  return new StoreUse(entry, breaker.name, options.whenUnavailable)
}

/** One breaker's use of a shared store: an object of its own, its methods on the prototype (a process may hold thousands). */
class StoreUse implements Connection {
  private closed = false

  constructor(
    private readonly entry: Entry,
    private readonly circuit: string,
    private readonly whenUnavailable: StoreOptions["whenUnavailable"]
  ) {}

  get ready(): Promise<SharedStore> {
    const { opened, views } = this.entry
    return (views[this.whenUnavailable] ??= opened.ready.then((store) => store.withPolicy(this.whenUnavailable)))
  }

  runEither<A, E>(effect: Effect.Effect<A, E>): Promise<Either.Either<A, E>> {
    return this.entry.opened.runEither(effect)
  }

  runOrThrow<A, E>(effect: Effect.Effect<A, E>): Promise<A> {
    return this.entry.opened.runOrThrow(effect)
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve()
    this.closed = true
    const { entry } = this
    const mine = entry.circuits.get(this.circuit)!
    if (--mine.users === 0) entry.circuits.delete(this.circuit)
    if (--entry.refs > 0) return Promise.resolve()
    stores.delete(entry.key)
    return entry.opened.close()
  }
}

/** @internal How many shared stores are open (for tests). */
export const openStores = (): number => stores.size
