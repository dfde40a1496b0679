/**
 * The built-in retry backoffs as pure functions of plain numbers: the delays of the retry
 * `Schedule` that `retryBackoff`, `retryDelay`, `maxRetryDelay`, `jitter` and `maxRetries`
 * describe, without loading Effect's `Schedule` (the Promise API computes them this way).
 *
 * @example
 * ```ts
 * import { RetryBackoff } from "@circuit-breaker/core"
 *
 * const backoff = { kind: "exponential", baseMillis: 100, maxMillis: 10_000, jitter: false, maxRetries: 3 } as const
 * RetryBackoff.delay(backoff, 1, Math.random()) // 100
 * RetryBackoff.delay(backoff, 3, Math.random()) // 400
 * RetryBackoff.delay(backoff, 4, Math.random()) // undefined: no retry left
 * ```
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category models
 */
export interface RetryBackoff {
  /** `"exponential"`: the base, doubled at each retry; `"linear"`: the base times the retry's number. */
  readonly kind: "exponential" | "linear"
  /** The first retry's delay, in milliseconds. */
  readonly baseMillis: number
  /** No delay is longer, jitter included. */
  readonly maxMillis: number
  /** Each delay scaled by a factor drawn from [0.8, 1.2), as `Schedule.jittered` does. */
  readonly jitter: boolean
  /** Retries after the first attempt. */
  readonly maxRetries: number
}

/** `Schedule.jittered`'s default bounds. */
const JITTER_MIN = 0.8
const JITTER_MAX = 1.2

/**
 * The delay in milliseconds before retry number `retry` (1 for the first retry), or
 * `undefined` when `maxRetries` are used up. `random` is a number in [0, 1): the jitter's
 * draw, ignored without jitter. The same delays as `Schedule.exponential(base, 2)` (or
 * `Schedule.linear(base)`), jittered, each capped at `maxMillis`, for `maxRetries` recurrences.
 *
 * @since 0.1.0
 * @category constructors
 */
export const delay = (backoff: RetryBackoff, retry: number, random: number): number | undefined => {
  if (retry < 1 || retry > backoff.maxRetries) return undefined
  const base = backoff.kind === "exponential" ? backoff.baseMillis * 2 ** (retry - 1) : backoff.baseMillis * retry
  const jittered = backoff.jitter ? base * (JITTER_MIN * (1 - random) + JITTER_MAX * random) : base
  return Math.min(jittered, backoff.maxMillis)
}
