/**
 * Where circuits keep their state. The breaker never changes state itself: it hands a
 * pure transition to the store, which applies it atomically. The in-memory store is the
 * default; `@circuit-breaker/redis` provides a shared one with the same interface.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type { CircuitStoreError } from "./CircuitBreakerError.js"
import type { CircuitState } from "./CircuitBreakerState.js"
import * as internal from "./internal/circuitBreakerStore.js"

/**
 * A state with the version the store holds it under. Versions start at 1 and grow by one
 * on every write; `0` means "no state stored yet".
 *
 * @since 0.1.0
 * @category models
 */
export interface Versioned {
  readonly state: CircuitState<unknown>
  readonly version: number
}

/**
 * The store interface every backend implements.
 *
 * `get` and `compareAndSet` are the primitive: a write succeeds only if the stored
 * version is still the expected one. `modify` is the atomic read-modify-write the breaker
 * uses; a backend may implement it with a CAS loop (see {@link modifyWithCompareAndSet})
 * or natively. Its function must be pure: it may run more than once.
 *
 * @since 0.1.0
 * @category models
 */
export interface Store {
  /** `true` when several processes share the state (for instance Redis). */
  readonly shared: boolean
  readonly get: (key: string) => Effect.Effect<Option.Option<Versioned>, CircuitStoreError>
  readonly compareAndSet: (
    key: string,
    expectedVersion: number,
    next: CircuitState<unknown>
  ) => Effect.Effect<boolean, CircuitStoreError>
  readonly modify: <A>(
    key: string,
    initial: CircuitState<unknown>,
    f: (current: CircuitState<unknown>) => readonly [A, CircuitState<unknown>]
  ) => Effect.Effect<A, CircuitStoreError>
  readonly delete: (key: string) => Effect.Effect<void, CircuitStoreError>
  /**
   * The same as `modify`, synchronously, for stores that hold the state in this process.
   * The breaker uses it on its hot path when present, and `modify` otherwise.
   */
  readonly unsafeModify?: <A>(
    key: string,
    initial: CircuitState<unknown>,
    f: (current: CircuitState<unknown>) => readonly [A, CircuitState<unknown>]
  ) => A
  /**
   * The state `unsafeModify` would hand to its function now, synchronously. A breaker reads
   * it first, and calls `unsafeModify` only when its transition changes the state (most calls
   * change nothing: a success in a Closed circuit with no failures counted, a rejection).
   * Stores that provide it provide `unsafeModify` too.
   */
  readonly unsafeGet?: (key: string, initial: CircuitState<unknown>) => CircuitState<unknown>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class CircuitBreakerStore extends Context.Tag("@circuit-breaker/core/CircuitBreakerStore")<
  CircuitBreakerStore,
  Store
>() {}

/**
 * A fresh in-memory store: atomic because JavaScript runs one transition at a time.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: () => Store = internal.makeMemory

/**
 * The in-memory store as a Layer: every breaker built with it in one process shares it.
 *
 * @example
 * ```ts
 * import { CircuitBreaker, CircuitBreakerStore } from "@circuit-breaker/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const a = yield* CircuitBreaker.make({ name: "payments" })
 *   const b = yield* CircuitBreaker.make({ name: "payments" }) // the same circuit as `a`
 * }).pipe(Effect.provide(CircuitBreakerStore.layerMemory))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<CircuitBreakerStore> = Layer.sync(CircuitBreakerStore, internal.makeMemory)

/**
 * Builds `modify` from `get` and `compareAndSet`: read, apply, write if the version is
 * unchanged, and retry (at most `maxAttempts` times) when another writer got there first.
 *
 * @since 0.1.0
 * @category constructors
 */
export const modifyWithCompareAndSet: (
  store: Pick<Store, "get" | "compareAndSet">,
  maxAttempts?: number
) => Store["modify"] = internal.modifyWithCompareAndSet
