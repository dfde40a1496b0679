import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import { format, NodeInspectSymbol } from "effect/Inspectable"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import type * as CB from "../CircuitBreaker.js"
import {
  type BulkheadRejectedError,
  CircuitBreakerConfigError,
  type CircuitOpenError,
  type CircuitTimeoutError
} from "../CircuitBreakerError.js"
import type { CircuitMetrics, StateName } from "../CircuitBreakerMetrics.js"
import * as Metrics from "../CircuitBreakerMetrics.js"
import type * as State from "../CircuitBreakerState.js"
import { modeOf } from "../CircuitBreakerState.js"
import { CircuitBreakerStore, type Store } from "../CircuitBreakerStore.js"
import { clockNow } from "./attemptTimer.js"
import { makePrivateMemory } from "./circuitBreakerStore.js"
import { Executor } from "./executor.js"
import * as LiveCircuits from "./liveCircuits.js"
import { liveMetrics } from "./liveMetrics.js"
import { type LiveMetrics, MetricsRecorder } from "./metricsRecorder.js"
import * as options_ from "./options.js"
import { invalidMode } from "./policyOptions.js"
import { scheduledOpenBackoff } from "./scheduledOpenBackoff.js"
import type { CircuitState } from "./stateCell.js"
import { taggedMetrics } from "./taggedMetrics.js"

/** @internal */
export const TypeId: CB.TypeId = Symbol.for("@circuit-breaker/core/CircuitBreaker") as CB.TypeId

/**
 * A breaker: its state cell (`stateCell.ts`), the outcomes of its attempts
 * (`attemptOutcome.ts`), admission and retries (`executor.ts`), and here what it shows:
 * state, metrics, manual operations and streams.
 */
class CircuitBreakerImpl extends Executor implements CB.CircuitBreaker {
  readonly [TypeId]: CB.TypeId = TypeId

  constructor(
    options: CB.CircuitBreaker.Resolved,
    policy: State.Policy<any>,
    store: Store,
    recorder: MetricsRecorder | undefined,
    createdAt: number
  ) {
    super(options, policy, store, recorder, createdAt)
    LiveCircuits.register(this, recorder)
  }

  pipe() {
    // biome-ignore lint/complexity/noArguments: Effect's pipeArguments takes the call's arguments
    return pipeArguments(this, arguments)
  }

  /** The name, the last state this breaker saw, and its counters: no internals, no store. */
  toJSON(): CB.CircuitBreaker.Json {
    const state = this.lastKnown._tag
    return { _id: "CircuitBreaker", name: this.name, state, metrics: this.snapshot(state) }
  }

  override toString(): string {
    return format(this.toJSON())
  }

  [NodeInspectSymbol](): unknown {
    return this.toJSON()
  }

  get state(): Effect.Effect<CircuitState> {
    return this.update((now) => ({ _tag: "Elapsed", now }))
  }

  get metrics(): Effect.Effect<CircuitMetrics> {
    return Effect.clockWith((clock) =>
      Effect.map(this.state, (state) => this.snapshot(state._tag, liveMetrics(this.policy, state, clockNow(clock))))
    )
  }

  /** @internal */
  snapshot(state: StateName, live?: LiveMetrics): CircuitMetrics {
    return this.recorder?.snapshot(state, live) ?? { ...Metrics.empty(this.name, state), ...live }
  }

  setMode(mode: State.Mode): Effect.Effect<void, CircuitBreakerConfigError> {
    const invalid = invalidMode(mode)
    if (invalid !== undefined) return Effect.fail(invalid)
    return Effect.asVoid(this.update((now) => ({ _tag: "ModeChanged", now, mode })))
  }

  get mode(): Effect.Effect<State.Mode> {
    return Effect.map(this.state, modeOf)
  }

  get reset(): Effect.Effect<void> {
    return Effect.asVoid(this.update((now) => ({ _tag: "Reset", now }), "reset"))
  }

  get trip(): Effect.Effect<void> {
    return Effect.asVoid(this.update((now) => ({ _tag: "Tripped", now }), "trip"))
  }

  get isolate(): Effect.Effect<CB.Isolation> {
    return Effect.map(
      this.update((now) => ({ _tag: "Isolated", now }), "isolate"),
      (state) => {
        let released = false
        const release = Effect.suspend(() => {
          if (released) return Effect.void
          released = true
          return Effect.asVoid(
            this.update((now) => ({ _tag: "Released", now, generation: state.generation }), "release")
          )
        })
        return { generation: state.generation, release }
      }
    )
  }

  get changes(): Stream.Stream<CB.StateChange> {
    return Stream.unwrap(
      Effect.suspend(() =>
        this.changesHub !== undefined
          ? Effect.succeed(Stream.fromPubSub(this.changesHub))
          : Effect.map(PubSub.sliding<CB.StateChange>(1024), (hub) => Stream.fromPubSub((this.changesHub ??= hub)))
      )
    )
  }

  get events(): Stream.Stream<CB.CallEvent> {
    return Stream.unwrapScoped(
      Effect.as(
        Effect.acquireRelease(
          Effect.sync(() => this.eventSubscribers++),
          () => Effect.sync(() => this.eventSubscribers--)
        ),
        Stream.unwrap(
          Effect.suspend(() =>
            this.eventsHub !== undefined
              ? Effect.succeed(Stream.fromPubSub(this.eventsHub))
              : Effect.map(PubSub.sliding<CB.CallEvent>(1024), (hub) => Stream.fromPubSub((this.eventsHub ??= hub)))
          )
        )
      )
    )
  }
}

/** @internal */
export const make = (
  options?: CB.CircuitBreaker.Options
): Effect.Effect<CB.CircuitBreaker, CircuitBreakerConfigError> =>
  Effect.gen(function* () {
    const resolved = options_.resolve(options, scheduledOpenBackoff)
    if (Either.isLeft(resolved)) return yield* resolved.left
    const o = resolved.right
    const store = Option.getOrElse(yield* Effect.serviceOption(CircuitBreakerStore), makePrivateMemory)
    if (o.distributedTracking && !store.shared) {
      return yield* new CircuitBreakerConfigError({
        option: "distributedTracking",
        value: true,
        reason:
          "needs a shared store: provide a shared CircuitBreakerStore layer (for instance from @circuit-breaker/redis); the store in context is in-memory"
      })
    }
    const policy = options_.policyOf(o)
    const now = yield* Effect.clockWith((clock) => Effect.succeed(clockNow(clock)))
    const recorder = o.metricsTracking
      ? new MetricsRecorder(o.name, o.serviceId, o.failureHistorySize, taggedMetrics)
      : undefined
    return new CircuitBreakerImpl(o, policy, store, recorder, now)
  })

/** @internal */
export const withCircuitBreaker = dual<
  (
    breaker: CB.CircuitBreaker
  ) => <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError | BulkheadRejectedError, R>,
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    breaker: CB.CircuitBreaker
  ) => Effect.Effect<A, E | CircuitOpenError | CircuitTimeoutError | BulkheadRejectedError, R>
>(2, (self, breaker) => breaker.execute(self))

/** @internal */
export const isCircuitBreaker = (u: unknown): u is CB.CircuitBreaker =>
  typeof u === "object" && u !== null && TypeId in u
