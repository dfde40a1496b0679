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
import { consecutiveFailures } from "../TripRule.js"

interface DurationRule {
  readonly allowZero: boolean
  readonly allowDisable: boolean
}

/**
 * Milliseconds (a finite number), an Effect `Duration` or a duration string such as
 * `"10 seconds"`. Numbers are checked before Effect decodes them, because
 * `Duration.millis(-5)` would silently become zero.
 */
const checkDuration = (u: unknown, rule: DurationRule): string | Duration.Duration => {
  if (rule.allowDisable && (u === false || (Duration.isDuration(u) && !Duration.isFinite(u)))) {
    return Duration.infinity
  }
  const expected = `${rule.allowZero ? "a non-negative" : "a positive"} duration: milliseconds as a finite number, an Effect Duration, or a string such as "10 seconds"${rule.allowDisable ? ", or false to disable" : ""}`
  if (typeof u === "number") {
    if (!Number.isFinite(u) || u < 0 || (u === 0 && !rule.allowZero)) return `must be ${expected}`
    return Duration.millis(u)
  }
  if (typeof u !== "string" && !Duration.isDuration(u) && !Array.isArray(u)) return `must be ${expected}`
  const decoded = Duration.decodeUnknown(u)
  if (Option.isNone(decoded)) return `must be ${expected}`
  const d = decoded.value
  if (!Duration.isFinite(d) || (Duration.toMillis(d) === 0 && !rule.allowZero)) return `must be ${expected}`
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

const Integer = (min: number) =>
  Schema.Unknown.pipe(
    Schema.filter((u): u is number => typeof u === "number" && Number.isSafeInteger(u) && u >= min, {
      message: () => (min === 0 ? "must be a whole number, 0 or more" : `must be a whole number, ${min} or more`)
    })
  )

const Bool = Schema.Unknown.pipe(
  Schema.filter((u): u is boolean => typeof u === "boolean", { message: () => "must be true or false" })
)

const Name = Schema.Unknown.pipe(
  Schema.filter((u): u is string => typeof u === "string" && u.trim().length > 0 && u.length <= 256, {
    message: () => "must be a non-empty string of at most 256 characters"
  })
)

const Fn = Schema.Unknown.pipe(
  Schema.filter((u): u is (error: unknown) => boolean => typeof u === "function", {
    message: () => "must be a function"
  })
)

const ScheduleOption = Schema.Unknown.pipe(
  Schema.filter((u): u is Schedule.Schedule<unknown, unknown> => Schedule.isSchedule(u), {
    message: () => "must be an Effect Schedule"
  })
)

const Backoff = Schema.Unknown.pipe(
  Schema.filter((u): u is "exponential" | "linear" => u === "exponential" || u === "linear", {
    message: () => `must be "exponential" or "linear"`
  })
)

const OptionsSchema = Schema.Struct({
  name: Schema.optional(Name),
  serviceId: Schema.optional(Name),
  failureThreshold: Schema.optional(Integer(1)),
  resetTimeout: Schema.optional(DurationOption({ allowZero: false, allowDisable: false })),
  timeout: Schema.optional(DurationOption({ allowZero: false, allowDisable: true })),
  successThreshold: Schema.optional(Integer(1)),
  retryBackoff: Schema.optional(Backoff),
  maxRetries: Schema.optional(Integer(0)),
  retryDelay: Schema.optional(DurationOption({ allowZero: true, allowDisable: false })),
  maxRetryDelay: Schema.optional(DurationOption({ allowZero: true, allowDisable: false })),
  jitter: Schema.optional(Bool),
  retrySchedule: Schema.optional(ScheduleOption),
  isFailure: Schema.optional(Fn),
  metricsTracking: Schema.optional(Bool),
  distributedTracking: Schema.optional(Bool),
  failureHistorySize: Schema.optional(Integer(0))
})

/** @internal */
export const knownOptions: ReadonlyArray<string> = Object.keys(OptionsSchema.fields)

const decodeOptions = Schema.decodeUnknownEither(OptionsSchema, { onExcessProperty: "error", errors: "first" })

/** @internal */
export const defaults = {
  name: "default",
  failureThreshold: 5,
  resetTimeout: Duration.seconds(30),
  timeout: Duration.seconds(10),
  successThreshold: 3,
  retryBackoff: "exponential",
  maxRetries: 3,
  retryDelay: Duration.millis(100),
  maxRetryDelay: Duration.seconds(10),
  jitter: true,
  metricsTracking: true,
  distributedTracking: false,
  failureHistorySize: 10
} as const

const toConfigError = (input: Record<string, unknown>, error: ParseResult.ParseError): CircuitBreakerConfigError => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  const option = issue?.path.length ? String(issue.path[0]) : "options"
  const unknown = issue?._tag === "Unexpected"
  return new CircuitBreakerConfigError({
    option,
    value: option === "options" ? input : input[option],
    reason: unknown ? `unknown option; the known options are ${knownOptions.join(", ")}` : (issue?.message ?? "invalid")
  })
}

/** @internal */
export const resolve = (
  input: unknown
): Either.Either<CircuitBreaker.CircuitBreaker.Resolved, CircuitBreakerConfigError> => {
  if (input === undefined) input = {}
  if (!Predicate.isRecord(input)) {
    return Either.left(
      new CircuitBreakerConfigError({ option: "options", value: input, reason: "must be an object (or undefined)" })
    )
  }
  const decoded = decodeOptions(input)
  if (Either.isLeft(decoded)) return Either.left(toConfigError(input, decoded.left))
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
  const name = o.name ?? o.serviceId ?? defaults.name
  return Either.right({
    name,
    serviceId: o.serviceId ?? name,
    failureThreshold: o.failureThreshold ?? defaults.failureThreshold,
    resetTimeout: o.resetTimeout ?? defaults.resetTimeout,
    timeout: o.timeout ?? defaults.timeout,
    successThreshold: o.successThreshold ?? defaults.successThreshold,
    retryBackoff: o.retryBackoff ?? defaults.retryBackoff,
    maxRetries: o.maxRetries ?? defaults.maxRetries,
    retryDelay,
    maxRetryDelay,
    jitter: o.jitter ?? defaults.jitter,
    retrySchedule: o.retrySchedule,
    isFailure: o.isFailure,
    metricsTracking: o.metricsTracking ?? defaults.metricsTracking,
    distributedTracking: o.distributedTracking ?? defaults.distributedTracking,
    failureHistorySize: o.failureHistorySize ?? defaults.failureHistorySize
  })
}

/** @internal */
export const policyOf = (o: CircuitBreaker.CircuitBreaker.Resolved): Policy<number> => ({
  rule: consecutiveFailures(o.failureThreshold),
  resetTimeout: Duration.toMillis(o.resetTimeout),
  successThreshold: o.successThreshold
})

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
