/**
 * How long a circuit stays Open, as pure functions of data (no clock): the base `resetTimeout`,
 * lengthened after each failed trial by `openBackoff`, at least a `Retry-After` the service
 * asked for (capped), and when a Half-Open circuit has waited too long for its trials.
 */

/**
 * `openBackoff`: each consecutive open period after a failed trial is `multiplier` times
 * longer, up to a cap; or, from an Effect `Schedule`, the open periods listed (`durations[n]`
 * after `n` failed trials, the last one repeating).
 */
export type OpenBackoff =
  | {
      /** At least 1. */
      readonly multiplier: number
      /** Milliseconds; at least `resetTimeout`. Also caps a `Retry-After` hint. */
      readonly maxResetTimeout: number
    }
  | {
      /** Milliseconds, at least one. */
      readonly durations: ReadonlyArray<number>
      /** The longest of them (or `resetTimeout`, if longer): caps a `Retry-After` hint. */
      readonly maxResetTimeout: number
    }

/** The open-duration options, resolved to milliseconds. */
export interface OpenDurationPolicy {
  readonly resetTimeout: number
  readonly openBackoff?: OpenBackoff | undefined
}

/**
 * The longest a `Retry-After` hint keeps a circuit Open when no `openBackoff.maxResetTimeout`
 * caps it: a service asking for hours is more likely wrong than right.
 */
export const DEFAULT_MAX_RETRY_AFTER = 10 * 60 * 1000

/** The longest a circuit may be held Open by a hint. */
export const retryAfterCap = (policy: OpenDurationPolicy): number =>
  policy.openBackoff?.maxResetTimeout ?? Math.max(policy.resetTimeout, DEFAULT_MAX_RETRY_AFTER)

/**
 * Milliseconds the circuit stays Open when it opens for the `reopenings + 1`-th time in a row:
 * 0 reopenings for a trip from Closed, one more for each failed trial since the circuit was
 * last Closed. With `openBackoff`, `resetTimeout × multiplier^reopenings` up to
 * `maxResetTimeout`; at least `retryAfter` (a service's own hint) up to the cap. Whole milliseconds.
 */
export const openDuration = (
  policy: OpenDurationPolicy,
  reopenings: number,
  retryAfter?: number | undefined
): number => {
  const backoff = policy.openBackoff
  const base =
    backoff === undefined
      ? policy.resetTimeout
      : "durations" in backoff
        ? backoff.durations[Math.min(Math.max(0, reopenings), backoff.durations.length - 1)]!
        : reopenings <= 0
          ? policy.resetTimeout
          : Math.min(backoff.maxResetTimeout, policy.resetTimeout * backoff.multiplier ** reopenings)
  const hinted =
    retryAfter !== undefined && Number.isFinite(retryAfter) && retryAfter > base
      ? Math.min(retryAfter, retryAfterCap(policy))
      : base
  return Math.ceil(Math.max(base, hinted))
}

/**
 * What `retryAfterFromError(error)` answered, made total: milliseconds, or `undefined` for no
 * hint (a function that throws, or answers anything but a finite number of 0 or more).
 */
export const retryAfterHint = (
  retryAfterFromError: ((error: unknown) => unknown) | undefined,
  error: unknown
): number | undefined => {
  if (retryAfterFromError === undefined) return undefined
  let answer: unknown
  try {
    answer = retryAfterFromError(error)
  } catch {
    return undefined
  }
  return typeof answer === "number" && Number.isFinite(answer) && answer >= 0 ? answer : undefined
}

/**
 * A `Retry-After` header value as milliseconds from `now`: delta-seconds (`"120"`) or an
 * HTTP date; `undefined` when absent or unreadable, 0 for a date already past.
 */
export const parseRetryAfter = (header: string | null | undefined, now: number): number | undefined => {
  if (header === null || header === undefined) return undefined
  const text = header.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  // An HTTP date names its month; `Date.parse` alone would read "-5" as a year.
  const date = /[a-z]/i.test(text) ? Date.parse(text) : Number.NaN
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/**
 * Whether a Half-Open circuit entered at `since` has waited `maxWaitInHalfOpen` milliseconds
 * for its trials by `now`, and goes back to Open. `undefined`: it waits for ever.
 */
export const halfOpenWaitExpired = (maxWaitInHalfOpen: number | undefined, since: number, now: number): boolean =>
  maxWaitInHalfOpen !== undefined && now - since >= maxWaitInHalfOpen
