import * as CircuitBreakerError from "@circuit-breaker/core/CircuitBreakerError"
import type * as CircuitBreakerState from "@circuit-breaker/core/CircuitBreakerState"
import type * as TripRule from "@circuit-breaker/core/TripRule"
import * as Option from "effect/Option"
import type * as API from "../AdvancedCircuitBreaker.js"
import { CircuitOpenError } from "../errors.js"

/** @internal */
export type CircuitState = CircuitBreakerState.CircuitState<unknown>

export const stateNames = { Closed: "CLOSED", Open: "OPEN", HalfOpen: "HALF_OPEN" } as const satisfies Record<
  CircuitState["_tag"],
  API.CircuitStateName
>

/** Read once: `performance.timeOrigin` is a getter that allocates a number on every read. */
const timeOrigin = performance.timeOrigin
/**
 * Milliseconds since the epoch, from the monotonic clock (latencies need sub-millisecond precision).
 * The global `performance` is read at every call, not kept: fake timers (vitest's, jest's,
 * @sinonjs') replace it, and a user's tests move our breakers with them.
 */
export const now = (): number => timeOrigin + performance.now()

export const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  u !== null && (typeof u === "object" || typeof u === "function") && typeof (u as any).then === "function"

/** Calls each listener; one that throws is reported as a process warning and never breaks the call. */
export const notify = <E>(listeners: Set<(event: E) => void> | undefined, event: E): void => {
  if (listeners === undefined) return
  for (const listener of listeners) {
    try {
      listener(event)
    } catch (error) {
      process.emitWarning(`circuit breaker listener threw ${describeThrown(error)}`, {
        code: "CIRCUIT_BREAKER_LISTENER"
      })
    }
  }
}

/** Never throws, whatever was thrown (a null-prototype object, a throwing `toString`). */
export const describeThrown = (error: unknown): string => {
  try {
    if (error instanceof Error) return `${error.name}: ${error.message}`
  } catch {
    // fall through
  }
  return CircuitBreakerError.describeValue(error)
}

/**
 * A promise that rejects on the next microtask rather than at once: by then the caller has
 * attached its handler, so Node's unhandled-rejection bookkeeping (a large part of the cost
 * of an already-rejected promise) never runs.
 */
export const rejectSoon = <A>(error: unknown): Promise<A> =>
  new Promise<A>((_, reject) => queueMicrotask(() => reject(error)))

/**
 * A rejection is made on the hot path of a failing dependency, often thousands of times a
 * second: it carries no stack trace (capturing one costs more than the whole rejection).
 */
export const openError = (circuit: string, retryAfter: number): CircuitOpenError => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return new CircuitOpenError(circuit, retryAfter)
  } finally {
    Error.stackTraceLimit = limit
  }
}

/** The Promise API's own options, which the core does not know. */
interface PromiseOnly {
  readonly redis: API.Options["redis"]
  readonly store: API.Options["store"]
  readonly passContext: unknown
  readonly logger: unknown
  readonly fallback: unknown
}

/** Takes the Promise API's own options (`redis`, `store`, `passContext`, `logger`, `fallback`) out of the options the core validates. */
export const splitPromiseOptions = (options: unknown): readonly [unknown, PromiseOnly] => {
  const none: PromiseOnly = {
    redis: undefined,
    store: undefined,
    passContext: undefined,
    logger: undefined,
    fallback: undefined
  }
  if (typeof options !== "object" || options === null || Array.isArray(options)) return [options, none]
  try {
    if (!["redis", "store", "passContext", "logger", "fallback"].some((key) => Object.hasOwn(options, key))) {
      return [options, none]
    }
    const { fallback, passContext, redis, store, logger, ...rest } = options as API.Options & {
      readonly passContext?: unknown
    }
    return [rest, { redis, store, passContext, logger, fallback }]
  } catch {
    // A hostile object: the core's validation reports it.
    return [options, none]
  }
}

/** An unnamed in-memory breaker is named after its function, as opossum does (else the core generates a name). */
export const withDefaultName = (options: unknown, fn: { readonly name: string }): unknown => {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    return options === undefined && fn.name !== "" ? { name: fn.name } : options
  }
  try {
    const o = options as API.Options
    if (o.name !== undefined || o.serviceId !== undefined || o.distributedTracking === true || fn.name === "") {
      return options
    }
    return { ...o, name: fn.name }
  } catch {
    return options
  }
}

export const stateNameOf = (state: CircuitBreakerState.CircuitState<unknown>): API.CircuitStateName =>
  stateNames[state._tag]

/**
 * The failures a Closed circuit's tally holds, read by `rule` when the tally is one of its own (consecutive failures,
 * a window's failures, or the larger of the two); a tally of another rule (another breaker's circuit under the same
 * prefix) is read as a consecutive count when it is a number, and as 0 otherwise.
 */
const failureCountOf = (state: CircuitBreakerState.CircuitState<unknown>, rule: TripRule.TripRule<any>): number => {
  if (state._tag !== "Closed") return 0
  if (rule.isTally(state.tally)) return rule.failureCount(state.tally)
  return typeof state.tally === "number" ? state.tally : 0
}

export const toDistributedState = (
  circuit: string,
  snapshot: Option.Option<{
    readonly state: CircuitBreakerState.CircuitState<unknown>
    readonly updatedAt: number | null
    readonly updatedBy: string | null
  }>,
  rule: TripRule.TripRule<any>
): API.DistributedState => {
  if (Option.isNone(snapshot)) {
    return { circuit, state: "CLOSED", failureCount: 0, openedAt: null, updatedAt: null, updatedBy: null }
  }
  const { state, updatedAt, updatedBy } = snapshot.value
  return {
    circuit,
    state: stateNameOf(state),
    failureCount: failureCountOf(state, rule),
    openedAt: state._tag === "Open" ? state.openedAt : null,
    updatedAt,
    updatedBy
  }
}
