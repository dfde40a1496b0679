import { CircuitBreaker, CircuitBreakerMetrics, type CircuitBreakerState, LiveCircuits } from "@circuit-breaker/core"
import { type LiveMetrics, liveMetrics } from "@circuit-breaker/core/MetricsRecorder"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

type StateName = CircuitBreakerMetrics.StateName
type CircuitMetrics = CircuitBreakerMetrics.CircuitMetrics

/** A manual command on a circuit. */
export type Action = "trip" | "reset" | "isolate" | "release"

export const actions: ReadonlyArray<Action> = ["trip", "reset", "isolate", "release"]

/** One live breaker of this process, whichever API made it, read the same way. */
export interface Circuit {
  readonly name: string
  readonly api: "effect" | "promise"
  /** Whether its state lives in a shared store (distributedTracking). */
  readonly distributed: boolean
  /** The state now, with the passage of time applied. */
  state(): StateName
  metrics(): CircuitMetrics
  /** The sliding window's rates as of now and the mode: what `metrics()` reads from the state, without the counters. */
  live(): LiveMetrics
  series(): LiveCircuits.MetricSeries | undefined
  /** Runs the command, or answers `undefined` when this breaker has no such command. */
  control(action: Action): Promise<unknown> | undefined
}

/** The Promise API's breaker, as far as the monitor reads it (its own module is not a dependency). */
interface PromiseBreaker {
  readonly name: string
  readonly options?: { readonly distributedTracking?: boolean }
  getState(): string
  getMetrics(): CircuitMetrics
  /** The window's rates and the mode, without the rest of `getMetrics()`: absent from an older breaker. */
  liveWindow?: () => LiveMetrics
  reset(): Promise<void>
  trip?: () => unknown
  isolate?: () => unknown
}

const isPromiseBreaker = (u: object): u is PromiseBreaker =>
  typeof (u as PromiseBreaker).getState === "function" && typeof (u as PromiseBreaker).getMetrics === "function"

const promiseStates: Record<string, StateName> = { CLOSED: "Closed", OPEN: "Open", HALF_OPEN: "HalfOpen" }

/** The last state read of an Effect breaker, for a store that cannot answer synchronously. */
const lastStates = new WeakMap<object, CircuitBreakerState.CircuitState<unknown>>()

const closed: CircuitBreakerState.CircuitState<unknown> = { _tag: "Closed", generation: 0, since: 0, tally: undefined }

/** A handle an `isolate` returned: `release` is a method (Promise API) or an Effect (Effect API). */
interface Isolation {
  readonly release: (() => unknown) | Effect.Effect<void>
}

const isIsolation = (u: unknown): u is Isolation =>
  typeof u === "object" &&
  u !== null &&
  (typeof (u as Isolation).release === "function" || Effect.isEffect((u as Isolation).release))

/** The isolations this process's monitors made, per breaker: `release` undoes the latest. */
const isolations = new WeakMap<object, Array<Isolation>>()

const isolate = (breaker: object, handle: unknown): unknown => {
  if (isIsolation(handle)) {
    const list = isolations.get(breaker) ?? []
    list.push(handle)
    isolations.set(breaker, list)
  }
  return handle
}

const release = (breaker: object): Promise<unknown> | undefined => {
  const handle = isolations.get(breaker)?.pop()
  if (handle === undefined) return undefined
  const { release } = handle
  return Effect.isEffect(release) ? Effect.runPromise(release) : Promise.resolve(release.call(handle))
}

const runEffect = (effect: unknown): Promise<unknown> =>
  Effect.isEffect(effect) ? Effect.runPromise(effect as Effect.Effect<unknown>) : Promise.resolve(effect)

const fromEffect = (breaker: CircuitBreaker.CircuitBreaker, recorder: LiveCircuits.SeriesSource | undefined) => {
  const read = (): CircuitBreakerState.CircuitState<unknown> => {
    const exit = Effect.runSyncExit(breaker.state)
    if (Exit.isSuccess(exit)) {
      lastStates.set(breaker, exit.value)
      return exit.value
    }
    return lastStates.get(breaker) ?? closed
  }
  const state = (): StateName => read()._tag
  const loose = breaker as unknown as Record<string, unknown>
  const circuit: Circuit = {
    name: breaker.name,
    api: "effect",
    distributed: breaker.options.distributedTracking,
    state,
    metrics: () => {
      const exit = Effect.runSyncExit(breaker.metrics)
      return Exit.isSuccess(exit) ? exit.value : CircuitBreakerMetrics.empty(breaker.name, state())
    },
    live: () => liveMetrics(breaker.policy, read(), Date.now()),
    series: () => recorder?.series(),
    control: (action) => {
      switch (action) {
        case "trip":
        case "reset":
          return runEffect(breaker[action])
        case "isolate":
          return typeof loose.isolate === "function" || Effect.isEffect(loose.isolate)
            ? runEffect(typeof loose.isolate === "function" ? loose.isolate.call(breaker) : loose.isolate).then(
                (handle) => isolate(breaker, handle)
              )
            : undefined
        case "release":
          return release(breaker)
      }
    }
  }
  return circuit
}

const fromPromise = (breaker: PromiseBreaker, recorder: LiveCircuits.SeriesSource | undefined): Circuit => {
  const state = (): StateName => promiseStates[breaker.getState()] ?? "Closed"
  return {
    name: breaker.name,
    api: "promise",
    distributed: breaker.options?.distributedTracking === true,
    state,
    metrics: () => ({ ...breaker.getMetrics(), state: state() }),
    live: () => breaker.liveWindow?.() ?? breaker.getMetrics(),
    series: () => recorder?.series(),
    control: (action) => {
      switch (action) {
        case "trip":
          return breaker.trip === undefined ? undefined : Promise.resolve(breaker.trip())
        case "reset":
          return breaker.reset()
        case "isolate":
          return breaker.isolate === undefined
            ? undefined
            : Promise.resolve(breaker.isolate()).then((handle) => isolate(breaker, handle))
        case "release":
          return release(breaker)
      }
    }
  }
}

/** Every live breaker of the process, oldest first. */
export const liveCircuits = (): Array<Circuit> => {
  const out: Array<Circuit> = []
  for (const { breaker, recorder } of LiveCircuits.live()) {
    if (CircuitBreaker.isCircuitBreaker(breaker)) out.push(fromEffect(breaker, recorder))
    else if (isPromiseBreaker(breaker)) out.push(fromPromise(breaker, recorder))
  }
  return out
}

/** The live breakers by circuit name (several breakers may share one circuit). */
export const byName = (circuits: ReadonlyArray<Circuit>): Map<string, Array<Circuit>> => {
  const map = new Map<string, Array<Circuit>>()
  for (const circuit of circuits) {
    const list = map.get(circuit.name)
    if (list === undefined) map.set(circuit.name, [circuit])
    else list.push(circuit)
  }
  return map
}
