/**
 * The options of the policies beyond consecutive failures (sliding windows, slow calls, open
 * duration, bulkhead, result classification; the Promise API's fallback): checked and resolved
 * in one place that `options.ts` calls, each failure a `CircuitBreakerConfigError` naming the option.
 */
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { CircuitBreakerConfigError } from "../CircuitBreakerError.js"
import type { Mode } from "../CircuitBreakerState.js"
import * as TripRule from "../TripRule.js"
import type { OpenBackoff } from "./openDuration.js"
import { MAX_COUNT_WINDOW } from "./tripRules/countWindow.js"
import { MAX_TIME_WINDOW_SECONDS } from "./tripRules/timeWindow.js"

/** The option names this module reads. */
export const policyOptionNames = [
  "failureRateThreshold",
  "slowCallRateThreshold",
  "slowCallDurationThreshold",
  "slidingWindowType",
  "slidingWindowSize",
  "minimumNumberOfCalls",
  "isResultFailure",
  "openBackoff",
  "retryAfterFromError",
  "maxWaitInHalfOpen",
  "maxConcurrent",
  "maxQueue",
  "queueTimeout"
] as const

/** The options that configure the sliding window: any of them turns it on. */
const windowOptionNames = policyOptionNames.slice(0, 6)

/** A sliding window, resolved (Resilience4j's defaults for what is not given). */
export interface WindowPolicy {
  readonly type: "count" | "time"
  /** Calls, or seconds. */
  readonly size: number
  readonly thresholds: TripRule.WindowThresholds
}

/** A bulkhead, resolved to milliseconds. */
export interface BulkheadPolicy {
  readonly maxConcurrent: number
  readonly maxQueue: number
  readonly queueTimeout: number | undefined
}

/** The resolved policy options; `undefined` where the option (and the policy) is not used. */
export interface PolicyOptions {
  readonly window: WindowPolicy | undefined
  readonly isResultFailure: ((result: unknown, ...args: ReadonlyArray<unknown>) => unknown) | undefined
  readonly openBackoff: OpenBackoff | undefined
  readonly retryAfterFromError: ((error: unknown) => unknown) | undefined
  /** Milliseconds. */
  readonly maxWaitInHalfOpen: number | undefined
  readonly bulkhead: BulkheadPolicy | undefined
  /** Whether consecutive failures trip the circuit: without a window, or with `failureThreshold` given. */
  readonly consecutiveFailures: boolean
}

/** Resilience4j's defaults. */
export const windowDefaults = {
  type: "count",
  size: 100,
  minimumNumberOfCalls: 100,
  failureRateThreshold: 50,
  slowCallRateThreshold: 100,
  slowCallDurationThreshold: 60_000
} as const

class Invalid {
  constructor(readonly error: CircuitBreakerConfigError) {}
}

const invalid = (option: string, value: unknown, reason: string): never => {
  throw new Invalid(new CircuitBreakerConfigError({ option, value, reason }))
}

const percent = (option: string, value: unknown): number | undefined => {
  if (value === undefined) return undefined
  if (typeof value !== "number" || !(value > 0 && value <= 100)) {
    return invalid(option, value, "must be a percentage greater than 0 and at most 100")
  }
  return value
}

const wholeNumber = (option: string, value: unknown, min: number): number | undefined => {
  if (value === undefined) return undefined
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    return invalid(option, value, `must be a whole number, ${min} or more`)
  }
  return value
}

const fn = <F>(option: string, value: unknown): F | undefined => {
  if (value === undefined) return undefined
  if (typeof value !== "function") return invalid(option, value, "must be a function")
  return value as F
}

/** Milliseconds (a finite number), an Effect `Duration`, or a string such as `"10 seconds"`. */
const millis = (option: string, value: unknown, allowZero: boolean): number | undefined => {
  if (value === undefined) return undefined
  const expected = `must be ${allowZero ? "a non-negative" : "a positive"} duration: milliseconds as a finite number, an Effect Duration, or a string such as "10 seconds"`
  if (typeof value === "string" && /^\s*-/.test(value)) return invalid(option, value, expected)
  const decoded =
    typeof value === "number"
      ? Number.isFinite(value) && value >= 0
        ? Option.some(Duration.millis(value))
        : Option.none()
      : typeof value === "string" || Duration.isDuration(value)
        ? Duration.decodeUnknown(value)
        : Option.none()
  if (Option.isNone(decoded) || !Duration.isFinite(decoded.value)) return invalid(option, value, expected)
  const ms = Duration.toMillis(decoded.value)
  if (ms === 0 && !allowZero) return invalid(option, value, expected)
  return ms
}

const windowOf = (input: Record<string, unknown>): WindowPolicy | undefined => {
  if (!windowOptionNames.some((name) => input[name] !== undefined)) return undefined
  const typeValue = input.slidingWindowType
  if (typeValue !== undefined && typeValue !== "count" && typeValue !== "time") {
    invalid("slidingWindowType", typeValue, 'must be "count" or "time"')
  }
  const type = (typeValue as "count" | "time" | undefined) ?? windowDefaults.type
  const max = type === "count" ? MAX_COUNT_WINDOW : MAX_TIME_WINDOW_SECONDS
  const size = wholeNumber("slidingWindowSize", input.slidingWindowSize, 1) ?? windowDefaults.size
  if (size > max) {
    invalid(
      "slidingWindowSize",
      input.slidingWindowSize,
      type === "count"
        ? `must be at most ${max} calls for a count window`
        : `must be at most ${max} seconds for a time window`
    )
  }
  const minimum = wholeNumber("minimumNumberOfCalls", input.minimumNumberOfCalls, 1)
  if (type === "count" && minimum !== undefined && minimum > size) {
    invalid("minimumNumberOfCalls", minimum, `must not exceed slidingWindowSize (${size}) for a count window`)
  }
  const slowRate = percent("slowCallRateThreshold", input.slowCallRateThreshold)
  const slowMs = millis("slowCallDurationThreshold", input.slowCallDurationThreshold, true)
  const slowRule = slowRate !== undefined || slowMs !== undefined
  return {
    type,
    size,
    thresholds: {
      failureRateThreshold:
        percent("failureRateThreshold", input.failureRateThreshold) ?? windowDefaults.failureRateThreshold,
      slowCallRateThreshold: slowRule ? (slowRate ?? windowDefaults.slowCallRateThreshold) : undefined,
      slowCallDurationThreshold: slowRule ? (slowMs ?? windowDefaults.slowCallDurationThreshold) : undefined,
      minimumNumberOfCalls:
        minimum ??
        (type === "count" ? Math.min(windowDefaults.minimumNumberOfCalls, size) : windowDefaults.minimumNumberOfCalls)
    }
  }
}

/** The open periods a Schedule lists: enough of them for any realistic run of failed trials; the last repeats. */
const SCHEDULED_PERIODS = 64

/**
 * The delays of `schedule`, as milliseconds, computed once (a jittered schedule is drawn once).
 * `Schedule.run` also returns the output of the step that ends the schedule: it is dropped.
 */
const scheduledPeriods = (schedule: Schedule.Schedule<unknown, number>, resetTimeout: number): OpenBackoff => {
  let delays: ReadonlyArray<number>
  try {
    const inputs = Array.from({ length: SCHEDULED_PERIODS + 1 }, (_, i) => i)
    const outputs = Chunk.toReadonlyArray(Effect.runSync(Schedule.run(Schedule.delays(schedule), 0, inputs)))
    delays = (outputs.length <= SCHEDULED_PERIODS ? outputs.slice(0, -1) : outputs.slice(0, SCHEDULED_PERIODS)).map(
      Duration.toMillis
    )
  } catch (error) {
    return invalid("openBackoff", schedule, `is a Schedule that could not be run (${String(error)})`)
  }
  if (delays.length === 0 || !delays.every((d) => Number.isFinite(d) && d > 0)) {
    return invalid("openBackoff", schedule, "must be a Schedule of at least one positive, finite delay")
  }
  return { durations: delays, maxResetTimeout: Math.max(resetTimeout, ...delays) }
}

/** A hostile value (a Proxy whose traps throw) is no Schedule, rather than an exception. */
const isSchedule = (u: unknown): boolean => {
  try {
    return Schedule.isSchedule(u)
  } catch {
    return false
  }
}

const openBackoffOf = (value: unknown, resetTimeout: number): OpenBackoff | undefined => {
  if (value === undefined) return undefined
  if (isSchedule(value)) return scheduledPeriods(value as Schedule.Schedule<unknown, number>, resetTimeout)
  if (typeof value !== "object" || value === null) {
    return invalid("openBackoff", value, "must be an object { multiplier, maxResetTimeout } (or an Effect Schedule)")
  }
  const { maxResetTimeout, multiplier } = value as Record<string, unknown>
  if (typeof multiplier !== "number" || !Number.isFinite(multiplier) || multiplier < 1) {
    invalid("openBackoff.multiplier", multiplier, "must be a finite number, 1 or more")
  }
  const max = millis("openBackoff.maxResetTimeout", maxResetTimeout, false)
  if (max === undefined) return invalid("openBackoff.maxResetTimeout", maxResetTimeout, "is required")
  if (max < resetTimeout) {
    invalid(
      "openBackoff.maxResetTimeout",
      maxResetTimeout,
      `must not be shorter than resetTimeout (${resetTimeout} ms)`
    )
  }
  return { multiplier: multiplier as number, maxResetTimeout: max }
}

const bulkheadOf = (input: Record<string, unknown>): BulkheadPolicy | undefined => {
  const maxConcurrent = wholeNumber("maxConcurrent", input.maxConcurrent, 1)
  const maxQueue = wholeNumber("maxQueue", input.maxQueue, 0)
  const queueTimeout = millis("queueTimeout", input.queueTimeout, false)
  if (maxConcurrent === undefined) {
    if (maxQueue !== undefined) invalid("maxQueue", maxQueue, "needs maxConcurrent (the bulkhead's size)")
    if (queueTimeout !== undefined)
      invalid("queueTimeout", input.queueTimeout, "needs maxConcurrent (the bulkhead's size)")
    return undefined
  }
  return { maxConcurrent, maxQueue: maxQueue ?? 0, queueTimeout }
}

/** The modes of `setMode`. */
export const modes: ReadonlyArray<Mode> = ["normal", "forcedOpen", "forcedClosed", "disabled", "metricsOnly"]

/** A `CircuitBreakerConfigError` naming `mode` for anything but a mode. */
export const invalidMode = (mode: unknown): CircuitBreakerConfigError | undefined =>
  (modes as ReadonlyArray<unknown>).includes(mode)
    ? undefined
    : new CircuitBreakerConfigError({ option: "mode", value: mode, reason: `must be one of ${modes.join(", ")}` })

/** The Promise API's `fallback(error, ...args)`: a function, or absent. */
export const fallbackOf = (
  value: unknown
): Either.Either<
  ((error: unknown, ...args: ReadonlyArray<unknown>) => unknown) | undefined,
  CircuitBreakerConfigError
> =>
  value === undefined || typeof value === "function"
    ? Either.right(value as ((error: unknown, ...args: ReadonlyArray<unknown>) => unknown) | undefined)
    : Either.left(new CircuitBreakerConfigError({ option: "fallback", value, reason: "must be a function" }))

/**
 * Checks and resolves the policy options of `input` (every option already read once, as
 * `options.ts` does). `resetTimeout` (ms) is the resolved base open duration.
 */
export const resolvePolicyOptions = (
  input: Readonly<Record<string, unknown>>,
  resetTimeout: number
): Either.Either<PolicyOptions, CircuitBreakerConfigError> => {
  try {
    return Either.right({
      window: windowOf(input),
      isResultFailure: fn("isResultFailure", input.isResultFailure),
      openBackoff: openBackoffOf(input.openBackoff, resetTimeout),
      retryAfterFromError: fn("retryAfterFromError", input.retryAfterFromError),
      maxWaitInHalfOpen: millis("maxWaitInHalfOpen", input.maxWaitInHalfOpen, false),
      bulkhead: bulkheadOf(input),
      consecutiveFailures:
        input.failureThreshold !== undefined || !windowOptionNames.some((name) => input[name] !== undefined)
    })
  } catch (error) {
    if (error instanceof Invalid) return Either.left(error.error)
    throw error
  }
}

const windowRule = (window: WindowPolicy): TripRule.TripRule<any> =>
  window.type === "count"
    ? TripRule.countWindow(window.size, window.thresholds)
    : TripRule.timeWindow(window.size, window.thresholds)

/** Rules are pure and immutable: breakers configured alike share one (and its initial tally). */
const rules = new Map<string, TripRule.TripRule<any>>()

/**
 * The trip rule the options describe: consecutive failures alone by default; with a sliding
 * window, the window, and consecutive failures too only if `failureThreshold` was given.
 */
export const tripRuleOf = (
  failureThreshold: number,
  consecutiveFailures: boolean,
  window: WindowPolicy | undefined
): TripRule.TripRule<any> => {
  const failureThresholdGiven = consecutiveFailures
  const key = JSON.stringify([window === undefined || failureThresholdGiven ? failureThreshold : 0, window])
  let rule = rules.get(key)
  if (rule === undefined) {
    rule =
      window === undefined
        ? TripRule.consecutiveFailures(failureThreshold)
        : failureThresholdGiven
          ? TripRule.anyOf([TripRule.consecutiveFailures(failureThreshold), windowRule(window)])
          : windowRule(window)
    rules.set(key, rule)
  }
  return rule
}
