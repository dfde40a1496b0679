import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as CircuitBreaker from "../CircuitBreaker.js"
import { CircuitBreakerConfigError } from "../CircuitBreakerError.js"
import type { Policy } from "../CircuitBreakerState.js"
import { policyOptionNames, resolvePolicyOptions, tripRuleOf } from "./policyOptions.js"

/** A predicate over a hostile value (a Proxy, a throwing getter) answers `false` rather than throwing. */
const safely = (predicate: () => boolean): boolean => {
  try {
    return predicate()
  } catch {
    return false
  }
}

interface DurationRule {
  readonly allowZero: boolean
  readonly allowDisable: boolean
  /** For durations that become a timer: Node cannot wait longer (it would fire after 1 ms). */
  readonly timer?: boolean
}

/** The longest delay a Node timer can wait: about 24.8 days. */
const MAX_TIMER_MILLIS = 2 ** 31 - 1

/**
 * Milliseconds (a finite number), an Effect `Duration` or a duration string such as
 * `"10 seconds"`. Numbers are checked before Effect decodes them, because
 * `Duration.millis(-5)` would silently become zero.
 */
const checkDuration = (u: unknown, rule: DurationRule): string | Duration.Duration => {
  try {
    return checkDurationUnsafe(u, rule)
  } catch (error) {
    return `could not be read (${describeError(error)})`
  }
}

const checkDurationUnsafe = (u: unknown, rule: DurationRule): string | Duration.Duration => {
  if (rule.allowDisable && (u === false || (Duration.isDuration(u) && !Duration.isFinite(u)))) {
    return Duration.infinity
  }
  const expected = `${rule.allowZero ? "a non-negative" : "a positive"} duration: milliseconds as a finite number, an Effect Duration, or a string such as "10 seconds"${rule.allowDisable ? ", or false to disable" : ""}`
  if (typeof u === "number") {
    if (!Number.isFinite(u) || u < 0 || (u === 0 && !rule.allowZero)) return `must be ${expected}`
    u = Duration.millis(u)
  }
  if (typeof u === "string" && /^\s*-/.test(u)) return `must be ${expected}`
  if (typeof u !== "string" && !Duration.isDuration(u) && !Array.isArray(u)) return `must be ${expected}`
  const decoded = Duration.decodeUnknown(u)
  if (Option.isNone(decoded)) return `must be ${expected}`
  const d = decoded.value
  if (!Duration.isFinite(d) || (Duration.toMillis(d) === 0 && !rule.allowZero)) return `must be ${expected}`
  if (rule.timer && Duration.toMillis(d) > MAX_TIMER_MILLIS) {
    return `must be at most ${MAX_TIMER_MILLIS} ms (about 24.8 days, the longest a timer can wait)${rule.allowDisable ? "; use false to disable it" : ""}`
  }
  return d
}

const DurationOption = (rule: DurationRule) =>
  Schema.transformOrFail(Schema.Unknown, Schema.DurationFromSelf, {
    strict: true,
    decode: (u, _, ast) => {
      const result = checkDuration(u, rule)
      return typeof result === "string"
        ? ParseResult.fail(new ParseResult.Type(ast, u, result))
        : ParseResult.succeed(result)
    },
    encode: ParseResult.succeed
  })

const integerReason = (min: number) =>
  min === 0 ? "must be a whole number, 0 or more" : `must be a whole number, ${min} or more`

const Integer = (min: number) =>
  Schema.Unknown.pipe(Schema.filter((u): u is number => typeof u === "number" && Number.isSafeInteger(u) && u >= min))

const Bool = Schema.Unknown.pipe(Schema.filter((u): u is boolean => typeof u === "boolean"))

const Name = Schema.Unknown.pipe(
  Schema.filter((u): u is string => typeof u === "string" && u.trim().length > 0 && u.length <= 256)
)

const Fn = Schema.Unknown.pipe(
  Schema.filter((u): u is CircuitBreaker.CircuitBreaker.FailurePredicate => typeof u === "function")
)

const ScheduleOption = Schema.Unknown.pipe(
  Schema.filter((u): u is Schedule.Schedule<unknown, unknown> => safely(() => Schedule.isSchedule(u)))
)

const Backoff = Schema.Unknown.pipe(
  Schema.filter((u): u is "exponential" | "linear" => u === "exponential" || u === "linear")
)

/** A field: its Schema, and the reason given when a value fails it. */
const field = <S extends Schema.Schema.AnyNoContext>(schema: S, reason: (u: unknown) => string) => ({ schema, reason })

const durationField = (rule: DurationRule) =>
  field(DurationOption(rule), (u) => {
    const result = checkDuration(u, rule)
    return typeof result === "string" ? result : "is invalid"
  })

const fields = {
  name: field(Name, () => "must be a non-empty string of at most 256 characters"),
  serviceId: field(Name, () => "must be a non-empty string of at most 256 characters"),
  failureThreshold: field(Integer(1), () => integerReason(1)),
  resetTimeout: durationField({ allowZero: false, allowDisable: false }),
  timeout: durationField({ allowZero: false, allowDisable: true, timer: true }),
  successThreshold: field(Integer(1), () => integerReason(1)),
  maxConcurrentTrials: field(Integer(1), () => integerReason(1)),
  trialPermitTtl: durationField({ allowZero: false, allowDisable: true }),
  retryBackoff: field(Backoff, () => `must be "exponential" or "linear"`),
  maxRetries: field(Integer(0), () => integerReason(0)),
  retryDelay: durationField({ allowZero: true, allowDisable: false, timer: true }),
  maxRetryDelay: durationField({ allowZero: true, allowDisable: false, timer: true }),
  jitter: field(Bool, () => "must be true or false"),
  retrySchedule: field(ScheduleOption, () => "must be an Effect Schedule"),
  isFailure: field(Fn, () => "must be a function"),
  metricsTracking: field(Bool, () => "must be true or false"),
  distributedTracking: field(Bool, () => "must be true or false"),
  failureHistorySize: field(Integer(0), () => integerReason(0))
}

type Fields = typeof fields

type Decoded = { -readonly [K in keyof Fields]?: Schema.Schema.Type<Fields[K]["schema"]> }

/** @internal */
export const knownOptions: ReadonlyArray<string> = [...Object.keys(fields), ...policyOptionNames]

/** The options checked here; the policy options are checked by `resolvePolicyOptions`. */
const fieldNames = Object.keys(fields) as ReadonlyArray<keyof Fields>

const decoders = Object.fromEntries(
  Object.entries(fields).map(([key, f]) => [key, Schema.decodeUnknownEither(f.schema as Schema.Schema<unknown>)])
) as Record<keyof Fields, (u: unknown) => Either.Either<unknown, ParseResult.ParseError>>

/**
 * Each option is decoded with its own Schema. The reason of a failure comes from our table,
 * never from Effect's issue formatter, which would stringify the value (and run its
 * getters, or its Proxy traps).
 */
const decodeOptions = (input: Record<string, unknown>): Either.Either<Decoded, CircuitBreakerConfigError> => {
  const decoded: Record<string, unknown> = {}
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(fields, key) && !(policyOptionNames as ReadonlyArray<string>).includes(key)) {
      return Either.left(
        new CircuitBreakerConfigError({
          option: key,
          value: input[key],
          reason: `unknown option; the known options are ${knownOptions.join(", ")}`
        })
      )
    }
  }
  for (const key of fieldNames) {
    const value = input[key]
    if (value === undefined) continue
    const result = decoders[key](value)
    if (Either.isLeft(result)) {
      return Either.left(new CircuitBreakerConfigError({ option: key, value, reason: fields[key].reason(value) }))
    }
    decoded[key] = result.right
  }
  return Either.right(decoded as Decoded)
}

/** Beyond the longest a trial attempt can take: time for its interruption, and for the write of its outcome. */
const TRIAL_PERMIT_MARGIN = Duration.seconds(1)

/** The permit TTL when the timeout is disabled, and a trial attempt may run for ever. */
const UNTIMED_TRIAL_PERMIT_TTL = Duration.seconds(60)

/**
 * The default `trialPermitTtl` for a `timeout`. A trial holds its permit for one attempt
 * (a retry is admitted again, and a failed trial reopens the circuit), and an attempt ends at
 * `timeout`: so `timeout` plus a margin, or 60 s when there is no timeout.
 *
 * @internal
 */
export const defaultTrialPermitTtl = (timeout: Duration.Duration): Duration.Duration =>
  !Duration.isFinite(timeout)
    ? UNTIMED_TRIAL_PERMIT_TTL
    : // The default timeout's TTL is shared: an idle breaker holds no Duration of its own.
      timeout === defaults.timeout
      ? defaults.trialPermitTtl
      : Duration.sum(timeout, TRIAL_PERMIT_MARGIN)

/** @internal */
export const defaults = {
  failureThreshold: 5,
  resetTimeout: Duration.seconds(30),
  timeout: Duration.seconds(10),
  successThreshold: 3,
  maxConcurrentTrials: 1,
  /** For the default timeout; it follows `timeout` (see `defaultTrialPermitTtl`). */
  trialPermitTtl: Duration.seconds(11),
  retryBackoff: "exponential",
  maxRetries: 3,
  retryDelay: Duration.millis(100),
  maxRetryDelay: Duration.seconds(10),
  jitter: true,
  metricsTracking: true,
  distributedTracking: false,
  failureHistorySize: 10,
  /** No sliding window, no bulkhead, nothing beyond consecutive failures. */
  policies: {
    window: undefined,
    isResultFailure: undefined,
    openBackoff: undefined,
    retryAfterFromError: undefined,
    maxWaitInHalfOpen: undefined,
    bulkhead: undefined,
    consecutiveFailures: true
  }
} as const

/**
 * Reads every own option once into a plain object, so that a getter that throws (or a
 * hostile Proxy) becomes a typed error naming the option, and is never read twice.
 */
const snapshot = (input: object): Either.Either<Record<string, unknown>, CircuitBreakerConfigError> => {
  let keys: Array<string | symbol>
  try {
    keys = Reflect.ownKeys(input).filter((key) => Object.getOwnPropertyDescriptor(input, key)?.enumerable)
  } catch (error) {
    return Either.left(
      new CircuitBreakerConfigError({
        option: "options",
        value: input,
        reason: `could not be read (${describeError(error)})`
      })
    )
  }
  const copy: Record<string, unknown> = {}
  for (const key of keys) {
    try {
      if (typeof key === "symbol") {
        return Either.left(
          new CircuitBreakerConfigError({
            option: key.toString(),
            value: (input as Record<symbol, unknown>)[key],
            reason: `unknown option; the known options are ${knownOptions.join(", ")}`
          })
        )
      }
      copy[key] = (input as Record<string, unknown>)[key]
    } catch (error) {
      return Either.left(
        new CircuitBreakerConfigError({
          option: String(key),
          value: undefined,
          reason: `could not be read (${describeError(error)})`
        })
      )
    }
  }
  return Either.right(copy)
}

const describeError = (error: unknown): string => {
  try {
    return error instanceof Error ? error.message : String(error)
  } catch {
    return "unprintable error"
  }
}

let unnamed = 0

/** A distinct name for a breaker given none: unnamed breakers never share metric tags. */
const generatedName = (): string => `circuit-${++unnamed}`

/** The name given (or the serviceId), else a generated one; required with distributedTracking. */
const nameOf = (o: Decoded, distributedTracking: boolean): Either.Either<string, CircuitBreakerConfigError> => {
  const given = o.name ?? o.serviceId
  if (given !== undefined) return Either.right(given)
  if (!distributedTracking) return Either.right(generatedName())
  return Either.left(
    new CircuitBreakerConfigError({
      option: "name",
      value: undefined,
      reason:
        "is required with distributedTracking: the name is the circuit's key in the shared store, which every instance of the circuit must share"
    })
  )
}

/** Reads options into a plain object: they must be an object (or undefined), whose getters do not throw. */
const readInput = (raw: unknown): Either.Either<Record<string, unknown>, CircuitBreakerConfigError> => {
  if (raw === undefined) raw = {}
  let isRecord: boolean
  try {
    isRecord = Predicate.isRecord(raw)
  } catch {
    isRecord = false
  }
  if (!isRecord) {
    return Either.left(
      new CircuitBreakerConfigError({ option: "options", value: raw, reason: "must be an object (or undefined)" })
    )
  }
  return snapshot(raw as object)
}

/** @internal */
export const resolve = (
  raw: unknown
): Either.Either<CircuitBreaker.CircuitBreaker.Resolved, CircuitBreakerConfigError> => {
  const read = readInput(raw)
  if (Either.isLeft(read)) return Either.left(read.left)
  const input = read.right
  const decoded = decodeOptions(input)
  if (Either.isLeft(decoded)) return Either.left(decoded.left)
  const o = decoded.right
  const retryDelay = o.retryDelay ?? defaults.retryDelay
  const maxRetryDelay =
    o.maxRetryDelay ??
    (o.retryDelay && Duration.greaterThan(retryDelay, defaults.maxRetryDelay) ? retryDelay : defaults.maxRetryDelay)
  if (Duration.lessThan(maxRetryDelay, retryDelay)) {
    return Either.left(
      new CircuitBreakerConfigError({
        option: "maxRetryDelay",
        value: input.maxRetryDelay,
        reason: `must not be shorter than retryDelay (${Duration.format(retryDelay)})`
      })
    )
  }
  const distributedTracking = o.distributedTracking ?? defaults.distributedTracking
  const name = nameOf(o, distributedTracking)
  if (Either.isLeft(name)) return Either.left(name.left)
  const resetTimeout = o.resetTimeout ?? defaults.resetTimeout
  const policies = resolvePolicyOptions(input, Duration.toMillis(resetTimeout))
  if (Either.isLeft(policies)) return Either.left(policies.left)
  const timeout = o.timeout ?? defaults.timeout
  return Either.right({
    name: name.right,
    serviceId: o.serviceId ?? name.right,
    failureThreshold: o.failureThreshold ?? defaults.failureThreshold,
    resetTimeout,
    timeout,
    successThreshold: o.successThreshold ?? defaults.successThreshold,
    maxConcurrentTrials: o.maxConcurrentTrials ?? defaults.maxConcurrentTrials,
    trialPermitTtl: o.trialPermitTtl ?? defaultTrialPermitTtl(timeout),
    retryBackoff: o.retryBackoff ?? defaults.retryBackoff,
    maxRetries: o.maxRetries ?? defaults.maxRetries,
    retryDelay,
    maxRetryDelay,
    jitter: o.jitter ?? defaults.jitter,
    retrySchedule: o.retrySchedule,
    isFailure: o.isFailure,
    metricsTracking: o.metricsTracking ?? defaults.metricsTracking,
    distributedTracking,
    failureHistorySize: o.failureHistorySize ?? defaults.failureHistorySize,
    policies: policies.right
  })
}

/** @internal */
export const policyOf = (o: CircuitBreaker.CircuitBreaker.Resolved): Policy<any> => {
  const resetTimeout = Duration.toMillis(o.resetTimeout)
  const trialPermitTtl = Duration.isFinite(o.trialPermitTtl) ? Duration.toMillis(o.trialPermitTtl) : undefined
  const { consecutiveFailures, maxWaitInHalfOpen, openBackoff, window } = o.policies
  const key = `${o.failureThreshold}|${resetTimeout}|${o.successThreshold}|${o.maxConcurrentTrials}|${trialPermitTtl}|${JSON.stringify([consecutiveFailures, window, openBackoff, maxWaitInHalfOpen])}`
  let policy = policies.get(key)
  if (policy === undefined) {
    policy = {
      rule: tripRuleOf(o.failureThreshold, consecutiveFailures, window),
      resetTimeout,
      successThreshold: o.successThreshold,
      maxConcurrentTrials: o.maxConcurrentTrials,
      trialPermitTtl,
      openBackoff,
      maxWaitInHalfOpen
    }
    if (policies.size < MAX_SHARED_POLICIES) policies.set(key, policy)
  }
  return policy
}

/**
 * Policies are pure data: breakers with the same options share one (an idle breaker holds
 * no copy of its own). Bounded: past the bound, a policy is simply not remembered.
 */
const policies = new Map<string, Policy<any>>()
const MAX_SHARED_POLICIES = 1024

/** @internal */
export const retrySchedule = (
  o: CircuitBreaker.CircuitBreaker.Resolved
): Schedule.Schedule<unknown, unknown> | undefined => {
  if (o.retrySchedule !== undefined) return o.retrySchedule
  if (o.maxRetries === 0) return undefined
  const base: Schedule.Schedule<Duration.Duration> =
    o.retryBackoff === "exponential" ? Schedule.exponential(o.retryDelay, 2) : Schedule.linear(o.retryDelay)
  const jittered = o.jitter ? Schedule.jittered(base) : base
  const capped = Schedule.modifyDelay(jittered, (_, delay) => Duration.min(delay, o.maxRetryDelay))
  return Schedule.intersect(capped, Schedule.recurs(o.maxRetries))
}
