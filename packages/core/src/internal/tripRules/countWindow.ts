import type { TripRule, WindowThresholds } from "../../TripRule.js"
import { checkThresholds, describeThresholds, isCount, isSlowCall, statsOf, tripsOn } from "./windowRates.js"

/**
 * The last `size` calls as a ring of slots, 32 slots an unsigned word: bit `s % 32` of word `s >> 5` of
 * `failed` says whether the call in slot `s` failed, and of `slowed` whether it was slow. The
 * word being written is kept apart (`headFailed`, `headSlowed`), so that a call copies no array:
 * the ring is copied only when the write position enters the next word, once every 32 calls.
 */
export interface CountWindowTally {
  /** Calls in the window, at most `size`. */
  readonly calls: number
  readonly failures: number
  readonly slow: number
  /** The slot the next call is written to; with a full window, it holds the oldest call. */
  readonly next: number
  /** The words of the ring; word `next >> 5` is stale, its live bits are the head's. */
  readonly failed: ReadonlyArray<number>
  readonly slowed: ReadonlyArray<number>
  readonly headFailed: number
  readonly headSlowed: number
}

const WORD = 32

/** The largest window a rule accepts (the option's bound). */
export const MAX_COUNT_WINDOW = 10_000

/** The ring with the head word written back into it. */
const commit = (words: ReadonlyArray<number>, index: number, head: number): ReadonlyArray<number> => {
  if (words[index] === head) return words
  const copy = words.slice()
  copy[index] = head
  return copy
}

const record = (size: number, tally: CountWindowTally, failed: boolean, slow: boolean): CountWindowTally => {
  const slot = tally.next
  const bit = 1 << (slot & (WORD - 1))
  const full = tally.calls === size
  // The slot's previous call (the oldest in a full window) leaves the window.
  const leftFailed = full && (tally.headFailed & bit) !== 0 ? 1 : 0
  const leftSlow = full && (tally.headSlowed & bit) !== 0 ? 1 : 0
  // Unsigned (`>>> 0`): a stored tally holds non-negative numbers only, as a store's shape check expects.
  const headFailed = (failed ? tally.headFailed | bit : tally.headFailed & ~bit) >>> 0
  const headSlowed = (slow ? tally.headSlowed | bit : tally.headSlowed & ~bit) >>> 0
  const next = slot + 1 === size ? 0 : slot + 1
  const calls = full ? size : tally.calls + 1
  const failures = tally.failures - leftFailed + (failed ? 1 : 0)
  const slowCount = tally.slow - leftSlow + (slow ? 1 : 0)
  const word = slot >> 5
  const nextWord = next >> 5
  if (nextWord === word) {
    return {
      calls,
      failures,
      slow: slowCount,
      next,
      failed: tally.failed,
      slowed: tally.slowed,
      headFailed,
      headSlowed
    }
  }
  const failedWords = commit(tally.failed, word, headFailed)
  const slowedWords = commit(tally.slowed, word, headSlowed)
  return {
    calls,
    failures,
    slow: slowCount,
    next,
    failed: failedWords,
    slowed: slowedWords,
    headFailed: failedWords[nextWord]!,
    headSlowed: slowedWords[nextWord]!
  }
}

/** A 32-bit word: unsigned, or signed as tallies made before words were kept unsigned. */
const isWord = (u: unknown): u is number =>
  Number.isInteger(u) && (u as number) >= -(2 ** 31) && (u as number) < 2 ** 32

const isWords = (u: unknown, length: number): u is ReadonlyArray<number> =>
  Array.isArray(u) && u.length === length && u.every(isWord)

const popCount = (word: number): number => {
  let n = word >>> 0
  let count = 0
  while (n !== 0) {
    n &= n - 1
    count++
  }
  return count
}

/** The set bits of the live slots (the first `calls` slots, or all of them in a full window). */
const liveBits = (words: ReadonlyArray<number>, head: number, headIndex: number, calls: number): number => {
  let count = 0
  for (let index = 0; index < words.length; index++) {
    const word = index === headIndex ? head : words[index]!
    const liveSlots = Math.min(WORD, Math.max(0, calls - index * WORD))
    count += popCount(liveSlots === WORD ? word : word & ((1 << liveSlots) - 1))
  }
  return count
}

/** Whether a value read back from a store is a consistent tally of a window of `size` calls. */
const isTallyOf = (size: number, words: number, u: unknown): u is CountWindowTally => {
  if (typeof u !== "object" || u === null) return false
  const t = u as Record<string, unknown>
  if (
    !(
      isCount(t.calls, size) &&
      isCount(t.failures, t.calls as number) &&
      isCount(t.slow, t.calls as number) &&
      isCount(t.next, size - 1) &&
      (t.calls === size || t.next === t.calls) &&
      isWords(t.failed, words) &&
      isWords(t.slowed, words) &&
      isWord(t.headFailed) &&
      isWord(t.headSlowed)
    )
  ) {
    return false
  }
  const head = (t.next as number) >> 5
  const calls = t.calls as number
  return (
    liveBits(t.failed as ReadonlyArray<number>, t.headFailed as number, head, calls) === t.failures &&
    liveBits(t.slowed as ReadonlyArray<number>, t.headSlowed as number, head, calls) === t.slow
  )
}

/** @internal */
export const make = (size: number, thresholds: WindowThresholds): TripRule<CountWindowTally> => {
  const name = `countWindow(${size}: ${describeThresholds(thresholds)})`
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_COUNT_WINDOW) {
    throw new RangeError(
      `countWindow: size must be a whole number of calls from 1 to ${MAX_COUNT_WINDOW} (got ${size})`
    )
  }
  checkThresholds("countWindow", thresholds)
  const words = Math.ceil(size / WORD)
  const zeros: ReadonlyArray<number> = Object.freeze(new Array<number>(words).fill(0))
  const initial: CountWindowTally = Object.freeze({
    calls: 0,
    failures: 0,
    slow: 0,
    next: 0,
    failed: zeros,
    slowed: zeros,
    headFailed: 0,
    headSlowed: 0
  })
  return {
    name,
    initial,
    onSuccess: (tally, _now, durationMs) => record(size, tally, false, isSlowCall(thresholds, durationMs)),
    onFailure: (tally, _now, durationMs) => record(size, tally, true, isSlowCall(thresholds, durationMs)),
    shouldTrip: (tally) => tripsOn(thresholds, tally),
    successMayTrip: true,
    failureCount: (tally) => tally.failures,
    stats: (tally) => statsOf(thresholds, tally),
    isTally: (u): u is CountWindowTally => isTallyOf(size, words, u)
  }
}
