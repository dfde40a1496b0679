import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { CircuitStoreError } from "../CircuitBreakerError.js"
import type { CircuitState } from "../CircuitBreakerState.js"
import type { Store, Versioned } from "../CircuitBreakerStore.js"

/** A circuit's state in the in-memory store. */
interface MemoryCell {
  state: CircuitState<unknown>
  version: number
}

/**
 * The in-memory store. Its map is made for the first circuit, and each of its functions
 * when it is first read (a getter), so that a breaker made without a store layer (it gets
 * a store of its own) stays small; the functions still work detached from the store.
 */
class MemoryStore implements Store {
  readonly shared = false
  private map: Map<string, MemoryCell> | undefined = undefined
  private fns: {
    get?: Store["get"]
    compareAndSet?: Store["compareAndSet"]
    modify?: Store["modify"]
    delete?: Store["delete"]
    unsafeModify?: NonNullable<Store["unsafeModify"]>
    unsafeGet?: NonNullable<Store["unsafeGet"]>
  } = {}

  private get cells(): Map<string, MemoryCell> {
    return (this.map ??= new Map())
  }

  get unsafeModify(): NonNullable<Store["unsafeModify"]> {
    return (this.fns.unsafeModify ??= (key, initial, f) => {
      const cells = this.cells
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
    })
  }

  get unsafeGet(): NonNullable<Store["unsafeGet"]> {
    return (this.fns.unsafeGet ??= (key, initial) => this.map?.get(key)?.state ?? initial)
  }

  get get(): Store["get"] {
    return (this.fns.get ??= (key) =>
      Effect.sync(() => {
        const cell = this.map?.get(key)
        return cell === undefined || cell.version === 0
          ? Option.none()
          : Option.some<Versioned>({ state: cell.state, version: cell.version })
      }))
  }

  get compareAndSet(): Store["compareAndSet"] {
    return (this.fns.compareAndSet ??= (key, expectedVersion, next) =>
      Effect.sync(() => {
        const cell = this.cells.get(key)
        if ((cell?.version ?? 0) !== expectedVersion) return false
        if (cell === undefined) this.cells.set(key, { state: next, version: 1 })
        else {
          cell.state = next
          cell.version++
        }
        return true
      }))
  }

  get modify(): Store["modify"] {
    return (this.fns.modify ??= (key, initial, f) => Effect.sync(() => this.unsafeModify(key, initial, f)))
  }

  get delete(): Store["delete"] {
    return (this.fns.delete ??= (key) =>
      Effect.sync(() => {
        this.map?.delete(key)
      }))
  }
}

/**
 * A breaker's own in-memory store (made when no store layer is provided): small, its
 * functions made on first use.
 *
 * @internal
 */
export const makePrivateMemory = (): Store => new MemoryStore()

/**
 * The public in-memory store: a plain object whose functions are its own properties, so
 * that it can be spread into a wrapping store.
 *
 * @internal
 */
export const makeMemory = (): Store => {
  const memory = new MemoryStore()
  const store: Store = {
    shared: false,
    get: memory.get,
    compareAndSet: memory.compareAndSet,
    modify: memory.modify,
    delete: memory.delete,
    unsafeModify: memory.unsafeModify,
    unsafeGet: memory.unsafeGet
  }
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
