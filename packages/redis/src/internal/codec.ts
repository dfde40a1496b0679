/**
 * The boundary between Redis and the breakers: every value read from Redis is decoded here,
 * first by shape (a Schema per state), then against bounds known only at read time (Redis's
 * clock, the longest open period, the shape of the circuit's own tally). Anything else is
 * refused with a reason naming the field, and the store repairs the key.
 *
 * A new state field is one entry in its state's Schema and, if it holds a time or a count
 * with a bound, one entry in `checks`.
 */
import type { CircuitBreakerState } from "@circuit-breaker/core"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

type CircuitState = CircuitBreakerState.CircuitState<unknown>

/**
 * How far ahead of Redis's clock a stored time may be (another writer's clock offset
 * estimate). A time in the past does no harm (a deadline passed is a deadline passed); one in
 * the future would hold a circuit where it is. The bound on `retryAt` takes it too: a trip
 * made for the longest open period, by a writer whose estimate is ahead of the reader's, is
 * not corrupt.
 */
const FUTURE_SLACK = 60_000

const Count = Schema.Number.pipe(Schema.int(), Schema.nonNegative())
const Time = Schema.Number.pipe(Schema.finite())

/** `mode` is absent in the normal mode (and in states stored by an older version). */
const Mode = Schema.Literal("normal", "forcedOpen", "forcedClosed", "disabled", "metricsOnly")

const common = { generation: Count, since: Time, mode: Schema.optional(Mode) }

/** Failed trials in a row, for `openBackoff`; absent when none. */
const reopenings = Schema.optional(Count)

/**
 * A Half-Open state. `permitsExpireAt` came with trial permit expiry: a state stored by an
 * older version has none, and reads as its `since` (its trials in flight have expired).
 */
const StoredHalfOpen = Schema.transform(
  Schema.TaggedStruct("HalfOpen", {
    ...common,
    trialsInFlight: Count,
    successes: Count,
    permitsExpireAt: Schema.optional(Time),
    reopenings,
    firstTrialAt: Schema.optional(Time)
  }),
  Schema.TaggedStruct("HalfOpen", {
    ...common,
    trialsInFlight: Count,
    successes: Count,
    permitsExpireAt: Time,
    reopenings,
    firstTrialAt: Schema.optional(Time)
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
    openedAt: Time,
    retryAt: Time,
    reopenings,
    // Isolation handles (`isolate()`): absent when none holds the circuit, and in states of older versions.
    isolated: Schema.optional(Count)
  }),
  StoredHalfOpen
)

const decodeJson = Schema.decodeUnknownEither(Schema.parseJson(StoredState))
const encodeJson = Schema.encodeSync(Schema.parseJson(StoredState))

/** What a decoded value is checked against: known only when it is read. */
export interface Bounds {
  /** Redis's clock when the value was read (milliseconds). */
  readonly now: number
  /** The longest a circuit may stay Open: a `retryAt` further away is corrupt. */
  readonly maxOpenPeriod: number
  /** The circuit's fresh state, when known: a stored tally must have the shape of its tally. */
  readonly initial?: CircuitState | undefined
}

const plausibleTime = (value: number, bounds: Bounds): boolean => value <= bounds.now + FUTURE_SLACK && value >= 0

type Check = (state: any, bounds: Bounds) => string | undefined

const timeCheck =
  (field: string): Check =>
  (state, bounds) =>
    plausibleTime(state[field], bounds)
      ? undefined
      : `${field} ${state[field]} is not between 0 and Redis time ${bounds.now}`

/** The bounds of each state's fields, by tag. */
const checks: Record<CircuitState["_tag"], ReadonlyArray<Check>> = {
  Closed: [
    timeCheck("since"),
    (state, bounds) =>
      bounds.initial?._tag !== "Closed" || sameShape(state.tally, bounds.initial.tally)
        ? undefined
        : `tally ${JSON.stringify(state.tally)} does not have the shape of ${JSON.stringify(bounds.initial.tally)}`
  ],
  Open: [
    timeCheck("since"),
    timeCheck("openedAt"),
    (state, bounds) =>
      // A forced-open circuit (`setMode("forcedOpen")`) stays Open for as long as the mode holds.
      state.retryAt >= state.openedAt &&
      (state.mode === "forcedOpen" || state.retryAt <= bounds.now + bounds.maxOpenPeriod + FUTURE_SLACK)
        ? undefined
        : `retryAt ${state.retryAt} is not between openedAt and ${bounds.maxOpenPeriod} ms from now`
  ],
  HalfOpen: [timeCheck("since")]
}

/**
 * Whether a stored tally is made like the fresh one: the same kinds at the same places,
 * every number a finite one, non-negative unless the fresh one is negative (a sentinel such
 * as a time window's "no bucket yet"), an integer where the fresh one holds an integer. An
 * array as long as the fresh one is compared item by item (a tuple, such as the tallies of
 * `TripRule.anyOf`); one of another length item by item with the fresh one's first.
 */
export const sameShape = (stored: unknown, fresh: unknown): boolean => {
  if (typeof fresh === "number") {
    return (
      typeof stored === "number" &&
      Number.isFinite(stored) &&
      stored >= Math.min(0, fresh) &&
      (!Number.isInteger(fresh) || Number.isInteger(stored))
    )
  }
  if (Array.isArray(fresh)) {
    if (!Array.isArray(stored)) return false
    if (stored.length === fresh.length) return stored.every((item, i) => sameShape(item, fresh[i]))
    return fresh.length === 0 || stored.every((item) => sameShape(item, fresh[0]))
  }
  if (typeof fresh === "object" && fresh !== null) {
    if (typeof stored !== "object" || stored === null || Array.isArray(stored)) return false
    const keys = Object.keys(fresh)
    return (
      keys.length === Object.keys(stored).length &&
      keys.every((key) => Object.hasOwn(stored, key) && sameShape((stored as any)[key], (fresh as any)[key]))
    )
  }
  return typeof stored === typeof fresh && (fresh === null) === (stored === null)
}

/** Decodes a stored state (in Redis time), or says what is wrong with it; without bounds, its shape only. */
export const decode = (json: string, bounds?: Bounds): Either.Either<CircuitState, string> =>
  Either.flatMap(
    Either.mapLeft(decodeJson(json), (error) => ParseResult.TreeFormatter.formatErrorSync(error)),
    (state) => {
      if (bounds === undefined) return Either.right(state as CircuitState)
      for (const check of checks[state._tag]) {
        const problem = check(state, bounds)
        if (problem !== undefined) return Either.left(`${state._tag}: ${problem}`)
      }
      return Either.right(state as CircuitState)
    }
  )

/** @internal */
export const encode = (state: CircuitState): string => encodeJson(state as Schema.Schema.Type<typeof StoredState>)

/** A stored version: a non-negative integer, or `undefined` when the field is corrupt. */
export const decodeVersion = (raw: unknown): number | undefined => {
  const version = typeof raw === "number" ? raw : typeof raw === "string" && /^\d{1,15}$/.test(raw) ? Number(raw) : -1
  return Number.isSafeInteger(version) && version >= 0 ? version : undefined
}

/** Moves every time field of a state by `delta` milliseconds (local clock ⇄ Redis clock). */
export const shiftTimes = (state: CircuitState, delta: number): CircuitState => {
  if (delta === 0) return state
  switch (state._tag) {
    case "Closed":
      return { ...state, since: state.since + delta }
    case "Open":
      return { ...state, since: state.since + delta, openedAt: state.openedAt + delta, retryAt: state.retryAt + delta }
    case "HalfOpen":
      return {
        ...state,
        since: state.since + delta,
        permitsExpireAt: state.permitsExpireAt + delta,
        ...(state.firstTrialAt === undefined ? {} : { firstTrialAt: state.firstTrialAt + delta })
      }
  }
}

/**
 * Whether going from `before` to `next` must be written at once: every change but a Closed
 * circuit's tally (counts go out in batches). A trip, a reset (a new generation), a trial's
 * outcome, and any field added later, are urgent.
 */
export const isUrgent = (before: CircuitState, next: CircuitState): boolean => {
  if (before._tag !== "Closed" || next._tag !== "Closed") return before !== next
  for (const key of Object.keys(next) as Array<keyof typeof next>) {
    if (key !== "tally" && next[key] !== before[key]) return true
  }
  return false
}

/**
 * A change announced on the channel: `version[ count countKey] \n incarnation \n state \n name`
 * (the count, when there is one, is the writer's node's change count). JSON holds no raw line
 * break, so the name, last, may hold any character.
 */
export interface Announcement {
  readonly name: string
  readonly version: number
  readonly incarnation: string
  readonly json: string
  readonly count?: { readonly key: string; readonly value: number } | undefined
}

/** `count countKey`, after the version. */
const parseCount = (text: string): Announcement["count"] => {
  const space = text.indexOf(" ")
  const value = decodeVersion(text.slice(0, space))
  return space < 0 || value === undefined ? undefined : { value, key: text.slice(space + 1) }
}

/** Parses an announcement; `undefined` for a message that is not one. */
export const parseAnnouncement = (message: string): Announcement | undefined => {
  const first = message.indexOf("\n")
  const second = message.indexOf("\n", first + 1)
  const third = message.indexOf("\n", second + 1)
  if (first < 0 || second < 0 || third < 0) return undefined
  const head = message.slice(0, first)
  const space = head.indexOf(" ")
  const version = decodeVersion(space < 0 ? head : head.slice(0, space))
  if (version === undefined) return undefined
  const count = space < 0 ? undefined : parseCount(head.slice(space + 1))
  return {
    version,
    ...(count === undefined ? {} : { count }),
    incarnation: message.slice(first + 1, second),
    json: message.slice(second + 1, third),
    name: message.slice(third + 1)
  }
}

let warmed = false

/** A state of each kind, to warm the codec with. */
export const warmUpSamples: ReadonlyArray<CircuitState> = [
  { _tag: "Closed", generation: 0, since: 1, tally: 0 },
  { _tag: "Open", generation: 0, since: 1, openedAt: 1, retryAt: 2, reopenings: 0 },
  { _tag: "HalfOpen", generation: 0, since: 1, trialsInFlight: 0, successes: 0, permitsExpireAt: 2, reopenings: 0 }
] as unknown as ReadonlyArray<CircuitState>

/**
 * Runs the codec once on a state of each kind, when the first store of the process opens: a
 * trip is rare, and the first one a process wrote or adopted used to wait for these
 * functions to be compiled, on the path whose delay every other process sees. Returns what
 * each announcement decoded to (a test checks that every one decodes).
 */
export const warmUp = (): ReadonlyArray<Either.Either<CircuitState, string>> => {
  if (warmed) return []
  warmed = true
  return warmUpSamples.map((state) => {
    const announced = parseAnnouncement(`2 1 count\nincarnation\n${encode(shiftTimes(state, 1))}\nname`)
    return announced === undefined
      ? Either.left("not an announcement")
      : decode(announced.json, { now: 3, maxOpenPeriod: 1, initial: warmUpSamples[0] })
  })
}
