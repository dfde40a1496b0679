import { CircuitBreakerState, type CircuitBreakerStore, type CircuitStoreError } from "@circuit-breaker/core"
import { CircuitBreakerOptions, clockNow } from "@circuit-breaker/core/internal"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Action } from "./circuits.js"

/** A stored circuit, as the cluster sees it. */
export interface ClusterCircuit {
  readonly name: string
  readonly state: CircuitBreakerState.CircuitState<unknown>["_tag"]
  readonly generation: number
  /** How many isolations hold it open (0 when none does). */
  readonly isolated: number
  /** When the state began (milliseconds since the epoch). */
  readonly since: number
  /** When an Open circuit lets trials through. */
  readonly retryAt: number | null
  readonly updatedAt: number | null
  readonly updatedBy: string | null
}

/** What a shared store (the Redis one) tells beyond the `Store` interface. */
export interface SharedStore extends CircuitBreakerStore.Store {
  readonly snapshot: (name: string) => Effect.Effect<
    Option.Option<{
      readonly name: string
      readonly version: number
      readonly state: CircuitBreakerState.CircuitState<unknown>
      readonly updatedAt: number | null
      readonly updatedBy: string | null
    }>,
    CircuitStoreError
  >
  readonly listCircuits: Effect.Effect<ReadonlyArray<string>, CircuitStoreError>
}

export const isSharedStore = (store: CircuitBreakerStore.Store | undefined): store is SharedStore =>
  store?.shared === true &&
  typeof (store as SharedStore).snapshot === "function" &&
  Effect.isEffect((store as SharedStore).listCircuits)

/** One stored circuit, or none. */
export const clusterCircuit = (
  store: SharedStore,
  name: string
): Effect.Effect<Option.Option<ClusterCircuit>, CircuitStoreError> =>
  Effect.map(
    store.snapshot(name),
    Option.map(({ state, updatedAt, updatedBy }) => ({
      name,
      state: state._tag,
      generation: state.generation,
      isolated: CircuitBreakerState.isolations(state),
      since: Math.round(state.since),
      retryAt: state._tag === "Open" ? Math.round(state.retryAt) : null,
      updatedAt,
      updatedBy
    }))
  )

/** Every circuit under the store's prefix, by name. */
export const clusterCircuits = (store: SharedStore): Effect.Effect<ReadonlyArray<ClusterCircuit>, CircuitStoreError> =>
  Effect.flatMap(store.listCircuits, (names) =>
    Effect.map(
      Effect.forEach([...new Set(names)].sort(), (name) => clusterCircuit(store, name), { concurrency: 16 }),
      (found) => found.flatMap(Option.toArray)
    )
  )

/** The policy a command applies to a circuit no breaker of this process runs: the defaults. */
const policyFor = (name: string, resetTimeout: Duration.DurationInput) => {
  const resolved = CircuitBreakerOptions.resolve({ name, resetTimeout: Duration.decode(resetTimeout) })
  if (Either.isLeft(resolved)) throw resolved.left
  return CircuitBreakerOptions.policyOf(resolved.right)
}

/** What a command is for the pure core, given the state Redis holds now. */
const eventOf = (
  action: Action,
  state: CircuitBreakerState.CircuitState<unknown>,
  now: number
): CircuitBreakerState.CircuitEvent => {
  switch (action) {
    case "trip":
      return { _tag: "Tripped", now }
    case "reset":
      return { _tag: "Reset", now }
    case "isolate":
      return { _tag: "Isolated", now }
    case "release":
      // One handle of the isolation Redis holds now; nothing when the circuit is not isolated.
      return { _tag: "Released", now, generation: state.generation }
  }
}

/**
 * Runs a command on a stored circuit for every process that shares it: written at once and
 * announced. `trip` opens it for `resetTimeout`, `isolate` holds it open until a `release`
 * (one per `isolate`; the last one closes it). `false` when the store holds no such circuit.
 */
export const command = (
  store: SharedStore,
  name: string,
  action: Action,
  resetTimeout: Duration.DurationInput
): Effect.Effect<boolean, CircuitStoreError> =>
  Effect.flatMap(store.snapshot(name), (found) => {
    if (Option.isNone(found)) return Effect.succeed(false)
    const policy = policyFor(name, resetTimeout)
    return Effect.clockWith((clock) => {
      const now = clockNow(clock)
      return Effect.as(
        store.modify(name, found.value.state, (state) => [
          undefined,
          CircuitBreakerState.transition(policy, state as never, eventOf(action, state, now))
        ]),
        true
      )
    })
  })
