import type { CircuitBreakerState } from "@circuit-breaker/core"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

type CircuitState = CircuitBreakerState.CircuitState<unknown>

/** `mode` is absent in the normal mode (and in states stored by an older version). */
const Mode = Schema.Literal("normal", "forcedOpen", "forcedClosed", "disabled", "metricsOnly")

const common = { generation: Schema.Number, since: Schema.Number, mode: Schema.optional(Mode) }

/** Failed trials in a row, for `openBackoff`; absent when none. */
const reopenings = Schema.optional(Schema.Number)

/**
 * A Half-Open state. `permitsExpireAt` came with trial permit expiry: a state stored by an
 * older version has none, and reads as its `since` (its trials in flight have expired).
 */
const StoredHalfOpen = Schema.transform(
  Schema.TaggedStruct("HalfOpen", {
    ...common,
    trialsInFlight: Schema.Number,
    successes: Schema.Number,
    permitsExpireAt: Schema.optional(Schema.Number),
    reopenings,
    firstTrialAt: Schema.optional(Schema.Number)
  }),
  Schema.TaggedStruct("HalfOpen", {
    ...common,
    trialsInFlight: Schema.Number,
    successes: Schema.Number,
    permitsExpireAt: Schema.Number,
    reopenings,
    firstTrialAt: Schema.optional(Schema.Number)
  }),
  {
    strict: true,
    decode: (stored) => ({ ...stored, permitsExpireAt: stored.permitsExpireAt ?? stored.since }),
    encode: (state) => state
  }
)

/** The stored state, as JSON. Times are Redis server time (milliseconds). */
const StoredState = Schema.Union(
  Schema.TaggedStruct("Closed", { ...common, tally: Schema.Unknown }),
  Schema.TaggedStruct("Open", {
    ...common,
    openedAt: Schema.Number,
    retryAt: Schema.Number,
    reopenings,
    // Isolation handles (`isolate()`): absent when none holds the circuit, and in states of older versions.
    isolated: Schema.optional(Schema.Number)
  }),
  StoredHalfOpen
)

const Json = Schema.parseJson(StoredState)
const decodeJson = Schema.decodeUnknownEither(Json)
const encodeJson = Schema.encodeSync(Json)

/** Moves every time field of a state by `delta` milliseconds (local clock ⇄ Redis clock). */
export const shiftTimes = (state: CircuitState, delta: number): CircuitState => {
  if (delta === 0) return state
  switch (state._tag) {
    case "Closed":
      return { ...state, since: state.since + delta }
    case "Open":
      return {
        ...state,
        since: state.since + delta,
        openedAt: state.openedAt + delta,
        retryAt: state.retryAt + delta
      }
    case "HalfOpen":
      return {
        ...state,
        since: state.since + delta,
        permitsExpireAt: state.permitsExpireAt + delta,
        ...(state.firstTrialAt === undefined ? {} : { firstTrialAt: state.firstTrialAt + delta })
      }
  }
}

/** @internal */
export const encode = (state: CircuitState): string => encodeJson(state as Schema.Schema.Type<typeof StoredState>)

/** @internal */
export const decode = (json: string): Either.Either<CircuitState, string> =>
  Either.mapLeft(decodeJson(json), (error) => error.message)
