/**
 * A registry of named breakers for Effect code: register, look up, remove, and read the
 * metrics of every circuit at once. Breakers registered in one registry share its store.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as CircuitBreaker from "./CircuitBreaker.js"
import { CircuitBreakerConfigError } from "./CircuitBreakerError.js"
import { type AggregatedMetrics, aggregate } from "./CircuitBreakerMetrics.js"
import { CircuitBreakerStore, layerMemory as storeLayerMemory } from "./CircuitBreakerStore.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Registry {
  /**
   * Builds and registers a breaker; `name` becomes its name. Fails with a
   * `CircuitBreakerConfigError` if the name is taken or an option is invalid, and then
   * registers nothing.
   */
  readonly register: (
    name: string,
    options?: Omit<CircuitBreaker.CircuitBreaker.Options, "name">
  ) => Effect.Effect<CircuitBreaker.CircuitBreaker, CircuitBreakerConfigError>
  readonly get: (name: string) => Effect.Effect<Option.Option<CircuitBreaker.CircuitBreaker>>
  /** Removes a breaker; `false` if there was none by that name. */
  readonly unregister: (name: string) => Effect.Effect<boolean>
  readonly names: Effect.Effect<ReadonlyArray<string>>
  /** The metrics of every registered circuit, their totals, and the names of the open ones. */
  readonly aggregateMetrics: Effect.Effect<AggregatedMetrics>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class CircuitBreakerRegistry extends Context.Tag("@circuit-breaker/core/CircuitBreakerRegistry")<
  CircuitBreakerRegistry,
  Registry
>() {}

const checkName = (name: unknown): Effect.Effect<string, CircuitBreakerConfigError> =>
  typeof name === "string" && name.trim().length > 0
    ? Effect.succeed(name)
    : Effect.fail(new CircuitBreakerConfigError({ option: "name", value: name, reason: "must be a non-empty string" }))

/**
 * A registry whose breakers keep their state in the `CircuitBreakerStore` of the context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Registry, never, CircuitBreakerStore> = Effect.map(
  CircuitBreakerStore,
  (store): Registry => {
    const breakers = new Map<string, CircuitBreaker.CircuitBreaker>()
    const taken = (name: string) =>
      new CircuitBreakerConfigError({
        option: "name",
        value: name,
        reason: "a breaker with this name is already registered"
      })
    return {
      register: (name, options) =>
        Effect.gen(function* () {
          yield* checkName(name)
          if (breakers.has(name)) return yield* taken(name)
          const breaker = yield* CircuitBreaker.make({ ...options, name }).pipe(
            Effect.provideService(CircuitBreakerStore, store)
          )
          // Checked again: another fiber may have registered the name meanwhile.
          if (breakers.has(name)) return yield* taken(name)
          breakers.set(name, breaker)
          return breaker
        }),
      get: (name) => Effect.sync(() => Option.fromNullable(breakers.get(name))),
      unregister: (name) => Effect.sync(() => breakers.delete(name)),
      names: Effect.sync(() => Array.from(breakers.keys())),
      aggregateMetrics: Effect.suspend(() =>
        Effect.map(
          Effect.forEach(Array.from(breakers.values()), (breaker) => breaker.metrics),
          aggregate
        )
      )
    }
  }
)

/**
 * The registry as a Layer, over the store the context provides.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<CircuitBreakerRegistry, never, CircuitBreakerStore> = Layer.effect(
  CircuitBreakerRegistry,
  make
)

/**
 * The registry over a fresh in-memory store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<CircuitBreakerRegistry> = Layer.provide(layer, storeLayerMemory)

/**
 * Registers a breaker in the registry of the context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const register = (
  name: string,
  options?: Omit<CircuitBreaker.CircuitBreaker.Options, "name">
): Effect.Effect<CircuitBreaker.CircuitBreaker, CircuitBreakerConfigError, CircuitBreakerRegistry> =>
  Effect.flatMap(CircuitBreakerRegistry, (registry) => registry.register(name, options))

/**
 * Looks a breaker up by name in the registry of the context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const get = (
  name: string
): Effect.Effect<Option.Option<CircuitBreaker.CircuitBreaker>, never, CircuitBreakerRegistry> =>
  Effect.flatMap(CircuitBreakerRegistry, (registry) => registry.get(name))

/**
 * The aggregated metrics of the registry of the context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const aggregateMetrics: Effect.Effect<AggregatedMetrics, never, CircuitBreakerRegistry> = Effect.flatMap(
  CircuitBreakerRegistry,
  (registry) => registry.aggregateMetrics
)
