/**
 * The call policy: every decision about one call through a breaker, written once, pure,
 * and driven by both executors (the Effect one and the Promise one). What an attempt's
 * outcome means (a failure, a success, or neither), which state-machine event it makes,
 * whether the call may go on to another attempt, what a rejection during retries ends
 * with, and which event and metric update each outcome produces.
 *
 * The executors differ only in how they run an attempt (a fiber, a Promise); they hand what
 * happened here as data (the error or value, the attempt's duration, the call's arguments),
 * and nothing here reads a clock or performs I/O. Outcomes are shared constants: classifying
 * a call allocates nothing.
 *
 * ```ts
 * import * as CallPolicy from "@circuit-breaker/core/CallPolicy"
 *
 * const policy = { isFailure: (error: { status: number }) => (error.status === 404 ? "ignore" : error.status >= 500) }
 * const outcome = CallPolicy.failed(policy, { status: 404 }, 12, [])
 * outcome.verdict // "ignored": counts neither way, and the tally stays as it is
 * ```
 *
 * @since 0.1.0
 */
import type { CircuitBreaker } from "./CircuitBreaker.js"
import type { CircuitBreakerConfigError } from "./CircuitBreakerError.js"
import type { CircuitEvent, CircuitState, Ticket } from "./CircuitBreakerState.js"
import * as internal from "./internal/callPolicy.js"

/**
 * What the call policy needs from the options.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallPolicy {
  /** Classifies an error (see the `isFailure` option); every error is a failure without it. */
  readonly isFailure: CircuitBreaker.FailurePredicate | undefined
  /** Makes a value count as a failure (see the `isResultFailure` option). */
  readonly isResultFailure?: ((result: unknown, ...args: ReadonlyArray<unknown>) => unknown) | undefined
  /** Reads how long the service asks not to be called from its error (see `retryAfterFromError`). */
  readonly retryAfterFromError?: ((error: unknown) => unknown) | undefined
}

/**
 * How an attempt counts: a failure or a success of the service, neither (`"ignored"`, an
 * error `isFailure` answers "ignore" for), or `"cancelled"` by the caller (neither either).
 *
 * @since 0.1.0
 * @category models
 */
export type Verdict = "success" | "failure" | "ignored" | "cancelled"

/**
 * The outcome event an attempt publishes (a cancelled attempt publishes none).
 *
 * @since 0.1.0
 * @category models
 */
export type Report = "success" | "failure" | "timeout" | "ignored"

/**
 * The metric update a call's end makes: `"none"` for a cancelled call.
 *
 * @since 0.1.0
 * @category models
 */
export type Ending = "success" | "failure" | "timeout" | "ignored" | "rejected" | "none"

/**
 * One attempt, classified.
 *
 * @since 0.1.0
 * @category models
 */
export interface Outcome {
  readonly verdict: Verdict
  /** The state-machine event the outcome makes (`Interrupted` counts neither way and gives a trial slot back). */
  readonly event: "Succeeded" | "Failed" | "TimedOut" | "Interrupted"
  /** The outcome event it publishes, if any. */
  readonly report: Report | undefined
  /** Whether another attempt may follow (a failure that is not a defect), unless the circuit opened. */
  readonly retryable: boolean
  readonly timedOut: boolean
  /** Set when `isFailure` gave an answer that is neither a boolean nor "ignore": the call fails with it. */
  readonly invalid: CircuitBreakerConfigError | undefined
}

/**
 * The part of a metrics recorder that a call's end updates.
 *
 * @since 0.1.0
 * @category models
 */
export interface EndingRecorder {
  success(latencyMillis: number): void
  failure(latencyMillis: number, timedOut: boolean): void
  ignored(): void
  rejected(): void
}

/**
 * The call policy that resolved options describe.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromOptions: (options: CircuitBreaker.Resolved) => CallPolicy = internal.fromOptions

/**
 * An attempt that produced `value` after `duration` ms: a success, or a failure when
 * `isResultFailure(value, ...args)` says so (not retried: the call still returns the value).
 * A predicate that throws counts the value as a failure.
 *
 * @since 0.1.0
 * @category classification
 */
export const succeeded: (
  policy: CallPolicy,
  value: unknown,
  duration: number,
  args: ReadonlyArray<unknown>
) => Outcome = internal.succeeded

/**
 * An attempt that failed with `error` after `duration` ms: `isFailure(error, ...args)`
 * decides. An `isFailure` that throws counts the error as a failure.
 *
 * @since 0.1.0
 * @category classification
 */
export const failed: (policy: CallPolicy, error: unknown, duration: number, args: ReadonlyArray<unknown>) => Outcome =
  internal.failed

/**
 * An attempt that died of a defect (a bug): a failure, never retried.
 *
 * @since 0.1.0
 * @category classification
 */
export const defect: (policy: CallPolicy, error: unknown, duration: number) => Outcome = internal.defect

/**
 * An attempt that ran past its timeout: a failure, retryable.
 *
 * @since 0.1.0
 * @category classification
 */
export const timedOut: (policy: CallPolicy, duration: number) => Outcome = internal.timedOut

/**
 * An attempt cancelled by its caller (or by the breaker's disposal), whatever the function
 * did meanwhile: it counts neither way, leaves the tally unchanged, and gives a trial slot back.
 *
 * @since 0.1.0
 * @category classification
 */
export const cancelled: Outcome = internal.cancelled

/**
 * The state-machine event of an outcome, for the call holding `ticket`.
 *
 * @since 0.1.0
 * @category decisions
 */
export const stateEvent: (
  outcome: Outcome,
  ticket: Ticket,
  now: number,
  durationMs?: number,
  retryAfter?: number
) => CircuitEvent = internal.stateEvent

/**
 * The milliseconds a failed attempt's service asked not to be called for
 * (`retryAfterFromError(error)`), or `undefined`: for a failure only, and an answer that is not
 * a finite number of 0 or more (or a function that throws) is no hint.
 *
 * @since 0.1.0
 * @category decisions
 */
export const retryAfter: (policy: CallPolicy, outcome: Outcome, error: unknown) => number | undefined =
  internal.retryAfter

/**
 * Whether the call ends with this attempt: anything but a retryable failure, and a failure
 * after which the circuit is Open (a retry would only be rejected).
 *
 * @since 0.1.0
 * @category decisions
 */
export const isFinal: (outcome: Outcome, after: CircuitState<unknown>) => boolean = internal.isFinal

/**
 * The metric update of a call that ends with this outcome.
 *
 * @since 0.1.0
 * @category decisions
 */
export const ending: (outcome: Outcome) => Ending = internal.ending

/**
 * The metric update of a call the circuit rejects: a rejection on its first attempt; during
 * retries, the call ends with its last real error, and counts as that attempt's outcome.
 *
 * @since 0.1.0
 * @category decisions
 */
export const onRejected: (last: Outcome | undefined) => Ending = internal.onRejected

/**
 * Applies an `Ending` to a recorder (nothing without one).
 *
 * @since 0.1.0
 * @category decisions
 */
export const record: (recorder: EndingRecorder | undefined, ending: Ending, latency: number) => void = internal.record
