/**
 * The store as the breakers see it, under one `whenUnavailable` policy. Views share one
 * connection pair and one local view per circuit: breakers with different policies on one
 * store each keep theirs (`withPolicy`).
 */
import { type CircuitBreakerStore, CircuitStoreError } from "@circuit-breaker/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Cluster, type Redis } from "ioredis"
import type * as API from "../RedisCircuitBreakerStore.js"
import type { Cell, CircuitState } from "./cell.js"
import type { CircuitSync, Stored } from "./circuitSync.js"
import * as codec from "./codec.js"
import type { Connection } from "./connection.js"

/** What every view of one store shares. */
export interface Shared {
  readonly sync: CircuitSync
  readonly connection: Connection
  readonly instanceId: string
  readonly syncInterval: number
  /** One view per policy, made when first asked for. */
  readonly views: { -readonly [K in API.WhenUnavailable]?: API.RedisStore }
}

/** The view of `shared` under `whenUnavailable`. */
export const makeView = (shared: Shared, whenUnavailable: API.WhenUnavailable): API.RedisStore =>
  (shared.views[whenUnavailable] ??= new View(shared, whenUnavailable))

const decodeFailure = (name: string, problem: string) =>
  new CircuitStoreError({ reason: "Decode", detail: `circuit "${name}": ${problem}` })

/** What Redis holds, or a Decode error when it is corrupt. */
const valid = (name: string, stored: Stored) =>
  stored.problem !== undefined ? Effect.fail(decodeFailure(name, stored.problem)) : Effect.succeed(stored)

class View implements API.RedisStore {
  readonly shared = true

  constructor(
    private readonly store: Shared,
    readonly whenUnavailable: API.WhenUnavailable
  ) {}

  get instanceId(): string {
    return this.store.instanceId
  }

  /**
   * What decisions see while Redis is unreachable, under `"allow"` (a Closed circuit) or
   * `"reject"` (an Open one, retried after a sync interval); `undefined` while it is reachable,
   * and always under `"local"` (the local view decides). It is never written: what callers do
   * meanwhile is not counted, and the circuit follows Redis again once it answers.
   */
  private unavailableView(cell: Cell): CircuitState | undefined {
    if (this.whenUnavailable === "local" || !this.store.connection.unavailable()) return undefined
    const generation = cell.view.generation
    const now = this.store.sync.clock.localNow()
    const since = now - (Date.now() - this.store.connection.downSince)
    if (this.whenUnavailable === "allow") {
      return cell.initial._tag === "Closed" ? { ...cell.initial, generation, since } : cell.initial
    }
    return { _tag: "Open", generation, since, openedAt: since, retryAt: now + this.store.syncInterval }
  }

  readonly unsafeGet = (name: string, initial: CircuitState): CircuitState => {
    const cell = this.store.sync.cellOf(name, initial)
    return this.unavailableView(cell) ?? cell.view
  }

  readonly unsafeModify = <A>(
    name: string,
    initial: CircuitState,
    f: (s: CircuitState) => readonly [A, CircuitState]
  ): A => {
    const sync = this.store.sync
    const cell = sync.cellOf(name, initial)
    const unavailableState = this.unavailableView(cell)
    if (unavailableState !== undefined) return f(unavailableState)[0]
    const before = cell.view
    const [result, next] = f(before)
    if (next !== before) {
      cell.view = next
      cell.push(f)
      // A change of state is written (and announced) at once; counts go out with the next tick.
      if (codec.isUrgent(before, next)) sync.writeSoon(cell)
      else sync.dirty.add(cell)
    }
    return result
  }

  readonly modify = <A>(
    name: string,
    initial: CircuitState,
    f: (s: CircuitState) => readonly [A, CircuitState]
  ): Effect.Effect<A, CircuitStoreError> =>
    Effect.suspend(() => {
      const { sync, connection } = this.store
      const cell = sync.cellOf(name, initial)
      const unavailableState = this.unavailableView(cell)
      if (unavailableState !== undefined) return Effect.succeed(f(unavailableState)[0])
      // Redis is known to be away: the local view decides at once, with no command to wait for.
      if (connection.unavailable()) return Effect.sync(() => this.unsafeModify(name, initial, f))
      // Every command of this read-modify-write shares one budget: the store timeout. A lost
      // race returns what is stored, and the transition is replayed on it.
      return connection.withinBudget(sync.write(cell, f)) as Effect.Effect<A, CircuitStoreError>
    })

  readonly get = (name: string): Effect.Effect<Option.Option<CircuitBreakerStore.Versioned>, CircuitStoreError> => {
    const sync = this.store.sync
    return Effect.flatMap(sync.read(sync.keyOf(name), sync.cells.get(name)?.initial), (stored) =>
      Effect.map(valid(name, stored), ({ version, state }) =>
        state === undefined ? Option.none() : Option.some({ version, state })
      )
    )
  }

  readonly compareAndSet = (
    name: string,
    expected: number,
    next: CircuitState
  ): Effect.Effect<boolean, CircuitStoreError> => this.store.sync.compareAndSetVersion(name, expected, next)

  readonly delete = (name: string): Effect.Effect<void, CircuitStoreError> => {
    const { sync, connection } = this.store
    return Effect.suspend(() => {
      sync.cells.delete(name)
      return Effect.asVoid(connection.run("delete", () => connection.client.del(sync.keyOf(name))))
    })
  }

  readonly snapshot = (name: string): Effect.Effect<Option.Option<API.Snapshot>, CircuitStoreError> => {
    const sync = this.store.sync
    return Effect.flatMap(sync.read(sync.keyOf(name), sync.cells.get(name)?.initial), (stored) =>
      Effect.map(valid(name, stored), ({ version, state, updatedAt, updatedBy }) =>
        state === undefined ? Option.none() : Option.some({ name, version, state, updatedAt, updatedBy })
      )
    )
  }

  /** Every master of a Cluster is scanned; SCAN, never KEYS. */
  get listCircuits(): Effect.Effect<ReadonlyArray<string>, CircuitStoreError> {
    const { connection, sync } = this.store
    const prefix = sync.config.prefix
    return Effect.suspend(() => {
      const client = connection.client
      const nodes: ReadonlyArray<Redis> = client instanceof Cluster ? client.nodes("master") : [client]
      const names = new Set<string>()
      const scan = (node: Redis, cursor: string): Effect.Effect<void, CircuitStoreError> =>
        Effect.flatMap(
          connection.run("scan", () => node.scan(cursor, "MATCH", `${prefix}{*}:s`, "COUNT", 200)),
          ([next, keys]) => {
            for (const key of keys) names.add(decodeURIComponent(key.slice(prefix.length + 1, -3)))
            return next === "0" ? Effect.void : scan(node, next)
          }
        )
      return Effect.map(
        Effect.forEach(nodes, (node) => scan(node, "0"), { discard: true, concurrency: "unbounded" }),
        () => Array.from(names)
      )
    })
  }

  readonly isHealthy = (): boolean => this.store.connection.isHealthy()

  readonly withPolicy = (whenUnavailable: API.WhenUnavailable): API.RedisStore => makeView(this.store, whenUnavailable)
}
