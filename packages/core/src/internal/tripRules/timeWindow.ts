import type { TripRule, WindowThresholds } from "../../TripRule.js"
import { checkThresholds, describeThresholds, isCount, isSlowCall, statsOf, tripsOn } from "./windowRates.js"

/**
 * The calls of the last buckets of time. `buckets` is a ring of `3 × B` counts (calls, failures,
 * slow calls of the bucket in ring slot `epoch mod B`); the current bucket, `epoch`, is kept
 * apart (`head…`), so a call in it copies no array: the ring is copied when time enters a new
 * bucket, or for an outcome that arrives late (another process's batch).
 */
export interface TimeWindowTally {
  /** The newest bucket seen: `floor(now / bucketMillis)`. */
  readonly epoch: number
  /** Totals over the window (the head bucket included). */
  readonly calls: number
  readonly failures: number
  readonly slow: number
  readonly buckets: ReadonlyArray<number>
  readonly headCalls: number
  readonly headFailures: number
  readonly headSlow: number
}

/** The longest window a rule accepts, in seconds (the option's bound). */
export const MAX_TIME_WINDOW_SECONDS = 3_600

/** The most buckets a window is cut into. */
export const MAX_BUCKETS = 60

/** The ring size and bucket length of a window of `seconds`. */
export const bucketsOf = (seconds: number): { readonly count: number; readonly millis: number } => {
  const count = Math.min(seconds, MAX_BUCKETS)
  return { count, millis: Math.ceil((seconds * 1000) / count) }
}

/** An epoch before any clock's: the first outcome starts an empty window. */
const NO_EPOCH = Number.MIN_SAFE_INTEGER

const slotOf = (epoch: number, count: number): number => ((epoch % count) + count) % count

/** The ring with the head written back and the buckets from `tally.epoch + 1` to `epoch` emptied. */
const roll = (tally: TimeWindowTally, epoch: number, count: number): TimeWindowTally => {
  const buckets = tally.buckets.slice()
  let { calls, failures, slow } = tally
  if (tally.epoch !== NO_EPOCH) {
    const head = 3 * slotOf(tally.epoch, count)
    buckets[head] = tally.headCalls
    buckets[head + 1] = tally.headFailures
    buckets[head + 2] = tally.headSlow
  }
  const emptied = Math.min(epoch - tally.epoch, count)
  for (let k = epoch - emptied + 1; k <= epoch; k++) {
    const at = 3 * slotOf(k, count)
    calls -= buckets[at]!
    failures -= buckets[at + 1]!
    slow -= buckets[at + 2]!
    buckets[at] = buckets[at + 1] = buckets[at + 2] = 0
  }
  return { epoch, calls, failures, slow, buckets, headCalls: 0, headFailures: 0, headSlow: 0 }
}

/** An outcome of an older bucket still in the window: counted in its own bucket. */
const late = (tally: TimeWindowTally, epoch: number, count: number, failed: number, slow: number): TimeWindowTally => {
  const buckets = tally.buckets.slice()
  const at = 3 * slotOf(epoch, count)
  buckets[at]! += 1
  buckets[at + 1]! += failed
  buckets[at + 2]! += slow
  return { ...tally, calls: tally.calls + 1, failures: tally.failures + failed, slow: tally.slow + slow, buckets }
}

const record = (
  tally: TimeWindowTally,
  now: number,
  bucket: { readonly count: number; readonly millis: number },
  failed: number,
  slow: number
): TimeWindowTally => {
  const epoch = Math.floor(now / bucket.millis)
  if (epoch < tally.epoch) {
    return epoch <= tally.epoch - bucket.count ? tally : late(tally, epoch, bucket.count, failed, slow)
  }
  const current = epoch === tally.epoch ? tally : roll(tally, epoch, bucket.count)
  return {
    epoch,
    calls: current.calls + 1,
    failures: current.failures + failed,
    slow: current.slow + slow,
    buckets: current.buckets,
    headCalls: current.headCalls + 1,
    headFailures: current.headFailures + failed,
    headSlow: current.headSlow + slow
  }
}

const MAX_COUNT = Number.MAX_SAFE_INTEGER

/** Whether the ring's counts, with the head's in its slot, add up to the totals. */
const consistent = (t: TimeWindowTally, count: number): boolean => {
  const sums = [0, 0, 0]
  const head = t.epoch === NO_EPOCH ? -1 : 3 * slotOf(t.epoch, count)
  for (let at = 0; at < t.buckets.length; at += 3) {
    const bucket = at === head ? [t.headCalls, t.headFailures, t.headSlow] : t.buckets.slice(at, at + 3)
    if (bucket[1]! > bucket[0]! || bucket[2]! > bucket[0]!) return false
    for (let i = 0; i < 3; i++) sums[i]! += bucket[i]!
  }
  return sums[0] === t.calls && sums[1] === t.failures && sums[2] === t.slow
}

const isTallyOf = (count: number, u: unknown): u is TimeWindowTally => {
  if (typeof u !== "object" || u === null) return false
  const t = u as Record<string, unknown>
  return (
    Number.isSafeInteger(t.epoch) &&
    [t.calls, t.failures, t.slow, t.headCalls, t.headFailures, t.headSlow].every((n) => isCount(n, MAX_COUNT)) &&
    Array.isArray(t.buckets) &&
    t.buckets.length === 3 * count &&
    t.buckets.every((n) => isCount(n, MAX_COUNT)) &&
    consistent(t as unknown as TimeWindowTally, count)
  )
}

/** @internal */
export const make = (seconds: number, thresholds: WindowThresholds): TripRule<TimeWindowTally> => {
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > MAX_TIME_WINDOW_SECONDS) {
    throw new RangeError(
      `timeWindow: seconds must be a whole number from 1 to ${MAX_TIME_WINDOW_SECONDS} (got ${seconds})`
    )
  }
  checkThresholds("timeWindow", thresholds)
  const bucket = bucketsOf(seconds)
  const initial: TimeWindowTally = Object.freeze({
    epoch: NO_EPOCH,
    calls: 0,
    failures: 0,
    slow: 0,
    buckets: Object.freeze(new Array<number>(3 * bucket.count).fill(0)),
    headCalls: 0,
    headFailures: 0,
    headSlow: 0
  })
  return {
    name: `timeWindow(${seconds}s: ${describeThresholds(thresholds)})`,
    initial,
    onSuccess: (tally, now, durationMs) => record(tally, now, bucket, 0, isSlowCall(thresholds, durationMs) ? 1 : 0),
    onFailure: (tally, now, durationMs) => record(tally, now, bucket, 1, isSlowCall(thresholds, durationMs) ? 1 : 0),
    shouldTrip: (tally) => tripsOn(thresholds, tally),
    successMayTrip: true,
    failureCount: (tally) => tally.failures,
    stats: (tally, now) => {
      const epoch = now === undefined ? tally.epoch : Math.floor(now / bucket.millis)
      return statsOf(thresholds, epoch > tally.epoch ? roll(tally, epoch, bucket.count) : tally)
    },
    isTally: (u): u is TimeWindowTally => isTallyOf(bucket.count, u)
  }
}
