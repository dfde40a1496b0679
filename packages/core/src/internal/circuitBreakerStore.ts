import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { CircuitStoreError } from "../CircuitBreakerError.js"
import type { CircuitState } from "../CircuitBreakerState.js"
import type { Store, Versioned } from "../CircuitBreakerStore.js"

/**
 * A circuit's state in the in-memory store.
 *
 * @internal
 */
export interface MemoryCell {
  state: CircuitState<unknown>
  version: number
}

const memoryCells = new WeakMap<Store, Map<string, MemoryCell>>()

/**
 * The cells of an in-memory store, which a breaker reads and writes directly (no
 * closure per call); `undefined` for any other store.
 *
 * @internal
 */
export const memoryCellsOf = (store: Store): Map<string, MemoryCell> | undefined => memoryCells.get(store)

/** @internal */
export const makeMemory = (): Store => {
  const cells = new Map<string, MemoryCell>()
  const unsafeModify = <A>(
    key: string,
    initial: CircuitState<unknown>,
    f: (current: CircuitState<unknown>) => readonly [A, CircuitState<unknown>]
  ): A => {
    let cell = cells.get(key)
    if (cell === undefined) {
      cell = { state: initial, version: 0 }
      cells.set(key, cell)
    }
    const [result, next] = f(cell.state)
    if (next !== cell.state) {
      cell.state = next
      cell.version++
    }
    return result
  }
  const store: Store = {
    shared: false,
    get: (key) =>
      Effect.sync(() => {
        const cell = cells.get(key)
        return cell === undefined || cell.version === 0
          ? Option.none()
          : Option.some<Versioned>({ state: cell.state, version: cell.version })
      }),
    compareAndSet: (key, expectedVersion, next) =>
      Effect.sync(() => {
        const cell = cells.get(key)
        if ((cell?.version ?? 0) !== expectedVersion) return false
        if (cell === undefined) cells.set(key, { state: next, version: 1 })
        else {
          cell.state = next
          cell.version++
        }
        return true
      }),
    modify: (key, initial, f) => Effect.sync(() => unsafeModify(key, initial, f)),
    unsafeModify,
    delete: (key) =>
      Effect.sync(() => {
        cells.delete(key)
      })
  }
  memoryCells.set(store, cells)
  return store
}

/** @internal */
export const modifyWithCompareAndSet =
  (store: Pick<Store, "get" | "compareAndSet">, maxAttempts = 16): Store["modify"] =>
  (key, initial, f) => {
    const loop = (attempt: number): Effect.Effect<any, CircuitStoreError> =>
      Effect.flatMap(store.get(key), (current) => {
        const version = Option.isSome(current) ? current.value.version : 0
        const [result, next] = f(Option.isSome(current) ? current.value.state : initial)
        if (Option.isSome(current) && next === current.value.state) return Effect.succeed(result)
        return Effect.flatMap(store.compareAndSet(key, version, next), (won) => {
          if (won) return Effect.succeed(result)
          if (attempt >= maxAttempts) {
            return Effect.fail(
              new CircuitStoreError({
                reason: "Conflict",
                detail: `state of "${key}" kept changing; gave up after ${maxAttempts} attempts`
              })
            )
          }
          return loop(attempt + 1)
        })
      })
    return loop(1)
  }
