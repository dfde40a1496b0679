import type * as CP from "../CallPolicy.js"
import type * as CB from "../CircuitBreaker.js"
import { CircuitBreakerConfigError } from "../CircuitBreakerError.js"
import type * as S from "../CircuitBreakerState.js"
import { retryAfterHint } from "./openDuration.js"

const outcome = (
  verdict: CP.Verdict,
  event: CP.Outcome["event"],
  report: CP.Report | undefined,
  retryable: boolean,
  timedOut: boolean
): CP.Outcome => ({ verdict, event, report, retryable, timedOut, invalid: undefined })

// Outcomes are constants: classifying a call allocates nothing.
const SUCCESS = outcome("success", "Succeeded", "success", false, false)
/** An error `isFailure` excludes: the service answered, so the circuit and the metrics count a success. */
const EXCLUDED = outcome("success", "Succeeded", "success", false, false)
const FAILURE = outcome("failure", "Failed", "failure", true, false)
/** A defect is a bug, not a flaky service: counted, never retried. */
const DEFECT = outcome("failure", "Failed", "failure", false, false)
const TIMEOUT = outcome("failure", "TimedOut", "timeout", true, true)
/** An error `isFailure` answers "ignore" for: neither, and a trial gives its slot back. */
const IGNORED = outcome("ignored", "Interrupted", "ignored", false, false)

/** @internal */
export const cancelled: CP.Outcome = outcome("cancelled", "Interrupted", undefined, false, false)

/** A value `isResultFailure` says is a failure: counted as one, never retried (the call returns the value). */
const RESULT_FAILURE = outcome("failure", "Failed", "failure", false, false)

/** @internal */
export const fromOptions = (options: CB.CircuitBreaker.Resolved): CP.CallPolicy => {
  const { isResultFailure, retryAfterFromError } = options.policies
  // Breakers without an isFailure (nor result or Retry-After readers) share one policy: an idle breaker holds no copy of its own.
  return options.isFailure === undefined && isResultFailure === undefined && retryAfterFromError === undefined
    ? EVERY_ERROR
    : { isFailure: options.isFailure, isResultFailure, retryAfterFromError }
}

const EVERY_ERROR: CP.CallPolicy = { isFailure: undefined }

/** @internal */
export const succeeded = (
  policy: CP.CallPolicy,
  value: unknown,
  _duration: number,
  args: ReadonlyArray<unknown>
): CP.Outcome => {
  const predicate = policy.isResultFailure
  if (predicate === undefined) return SUCCESS
  try {
    return (args.length === 0 ? predicate(value) : predicate(value, ...args)) ? RESULT_FAILURE : SUCCESS
  } catch {
    return RESULT_FAILURE
  }
}

/** @internal */
export const retryAfter = (policy: CP.CallPolicy, outcome: CP.Outcome, error: unknown): number | undefined =>
  outcome.event === "Failed" && policy.retryAfterFromError !== undefined
    ? retryAfterHint(policy.retryAfterFromError, error)
    : undefined

/** @internal */
export const failed = (
  policy: CP.CallPolicy,
  error: unknown,
  _duration: number,
  args: ReadonlyArray<unknown>
): CP.Outcome => {
  const predicate = policy.isFailure
  if (predicate === undefined) return FAILURE
  let answer: unknown
  try {
    answer = args.length === 0 ? predicate(error) : predicate(error, ...args)
  } catch {
    // A predicate that throws counts the error as a failure, rather than leaving the
    // attempt's outcome unrecorded (and a trial slot taken).
    return FAILURE
  }
  switch (answer) {
    case true:
      return FAILURE
    case false:
      return EXCLUDED
    case "ignore":
      return IGNORED
    default:
      return {
        ...IGNORED,
        report: undefined,
        invalid: new CircuitBreakerConfigError({
          option: "isFailure",
          value: answer,
          reason: `must return true, false or "ignore"`
        })
      }
  }
}

/** @internal */
export const defect = (_policy: CP.CallPolicy, _error: unknown, _duration: number): CP.Outcome => DEFECT

/** @internal */
export const timedOut = (_policy: CP.CallPolicy, _duration: number): CP.Outcome => TIMEOUT

/** @internal */
export const stateEvent = (
  outcome: CP.Outcome,
  ticket: S.Ticket,
  now: number,
  durationMs?: number,
  retryAfter?: number
): S.CircuitEvent => ({
  _tag: outcome.event,
  now,
  generation: ticket.generation,
  trial: ticket.trial,
  ...(durationMs === undefined ? {} : { durationMs }),
  ...(retryAfter === undefined ? {} : { retryAfter })
})

/** @internal */
export const isFinal = (outcome: CP.Outcome, after: S.CircuitState<unknown>): boolean =>
  !outcome.retryable || after._tag === "Open"

/** @internal */
export const ending = (outcome: CP.Outcome): CP.Ending =>
  outcome.invalid !== undefined
    ? "none"
    : outcome.verdict === "cancelled"
      ? "none"
      : outcome.verdict === "failure"
        ? outcome.timedOut
          ? "timeout"
          : "failure"
        : outcome.verdict

/** @internal */
export const onRejected = (last: CP.Outcome | undefined): CP.Ending => (last === undefined ? "rejected" : ending(last))

/** @internal */
export const record = (recorder: CP.EndingRecorder | undefined, end: CP.Ending, latency: number): void => {
  if (recorder === undefined || end === "none") return
  if (end === "success") recorder.success(latency)
  else if (end === "failure" || end === "timeout") recorder.failure(latency, end === "timeout")
  else if (end === "ignored") recorder.ignored()
  else recorder.rejected()
}
