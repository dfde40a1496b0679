import type { WindowStats, WindowThresholds } from "../../TripRule.js"

/** The totals every window keeps. */
export interface WindowCounts {
  readonly calls: number
  readonly failures: number
  readonly slow: number
}

const isPercent = (u: unknown): boolean => typeof u === "number" && u > 0 && u <= 100

/** Checks thresholds a rule is built with, naming the one that is wrong; window options are checked before. */
export const checkThresholds = (rule: string, thresholds: WindowThresholds): void => {
  const { failureRateThreshold, minimumNumberOfCalls, slowCallDurationThreshold, slowCallRateThreshold } = thresholds
  const fail = (what: string, value: unknown) => {
    throw new RangeError(`${rule}: ${what} (got ${String(value)})`)
  }
  if (failureRateThreshold !== undefined && !isPercent(failureRateThreshold)) {
    fail("failureRateThreshold must be a percentage in (0, 100]", failureRateThreshold)
  }
  if (slowCallRateThreshold !== undefined && !isPercent(slowCallRateThreshold)) {
    fail("slowCallRateThreshold must be a percentage in (0, 100]", slowCallRateThreshold)
  }
  if (
    slowCallDurationThreshold !== undefined &&
    !(typeof slowCallDurationThreshold === "number" && slowCallDurationThreshold >= 0)
  ) {
    fail("slowCallDurationThreshold must be a number of milliseconds, 0 or more", slowCallDurationThreshold)
  }
  if (!Number.isSafeInteger(minimumNumberOfCalls) || minimumNumberOfCalls < 1) {
    fail("minimumNumberOfCalls must be a whole number, 1 or more", minimumNumberOfCalls)
  }
}

/** Whether a call of `durationMs` is slow under `thresholds` (an unknown duration never is). */
export const isSlowCall = (thresholds: WindowThresholds, durationMs: number | undefined): boolean =>
  thresholds.slowCallDurationThreshold !== undefined &&
  durationMs !== undefined &&
  durationMs > thresholds.slowCallDurationThreshold

/**
 * Whether `counts` trip under `thresholds`: a rate reaches its threshold with at least
 * `minimumNumberOfCalls` calls. Compared as `count * 100 >= threshold * calls`, without a division.
 */
export const tripsOn = (thresholds: WindowThresholds, counts: WindowCounts): boolean => {
  const { calls } = counts
  if (calls < thresholds.minimumNumberOfCalls) return false
  const { failureRateThreshold, slowCallRateThreshold } = thresholds
  return (
    (failureRateThreshold !== undefined && counts.failures * 100 >= failureRateThreshold * calls) ||
    (slowCallRateThreshold !== undefined && counts.slow * 100 >= slowCallRateThreshold * calls)
  )
}

const rate = (count: number, calls: number): number => (count * 100) / calls

/** The window's stats; the rates are -1 below `minimumNumberOfCalls`. */
export const statsOf = (thresholds: WindowThresholds, counts: WindowCounts): WindowStats => {
  const below = counts.calls < thresholds.minimumNumberOfCalls
  return {
    calls: counts.calls,
    failures: counts.failures,
    slowCalls: counts.slow,
    failureRate: below ? -1 : rate(counts.failures, counts.calls),
    slowCallRate: below ? -1 : rate(counts.slow, counts.calls)
  }
}

/** A short description of the thresholds, for a rule's name. */
export const describeThresholds = (thresholds: WindowThresholds): string =>
  [
    thresholds.failureRateThreshold !== undefined ? `failureRate>=${thresholds.failureRateThreshold}%` : undefined,
    thresholds.slowCallRateThreshold !== undefined
      ? `slowCallRate>=${thresholds.slowCallRateThreshold}%(>${thresholds.slowCallDurationThreshold ?? "?"}ms)`
      : undefined,
    `min ${thresholds.minimumNumberOfCalls} calls`
  ]
    .filter((part) => part !== undefined)
    .join(", ")

/** Whether `u` is a whole number in [0, max]. */
export const isCount = (u: unknown, max: number): u is number =>
  typeof u === "number" && Number.isSafeInteger(u) && u >= 0 && u <= max
