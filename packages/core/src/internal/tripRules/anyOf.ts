import type { TripRule, WindowStats } from "../../TripRule.js"

type Tallies = ReadonlyArray<unknown>

/** Each rule's step; the same array when no tally changed (a rule with nothing to count). */
const step = (
  rules: ReadonlyArray<TripRule<unknown>>,
  tallies: Tallies,
  failed: boolean,
  now: number,
  durationMs: number | undefined
): Tallies => {
  let next: Array<unknown> | undefined
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!
    const tally = failed ? rule.onFailure(tallies[i], now, durationMs) : rule.onSuccess(tallies[i], now, durationMs)
    if (next === undefined && tally !== tallies[i]) next = tallies.slice(0, i)
    if (next !== undefined) next.push(tally)
  }
  return next ?? tallies
}

/** @internal */
export const make = (input: ReadonlyArray<TripRule<any>>): TripRule<Tallies> => {
  if (!Array.isArray(input) || input.length === 0) {
    throw new RangeError("anyOf: give at least one rule")
  }
  const rules: ReadonlyArray<TripRule<unknown>> = input.slice()
  const withStats = rules.find((rule) => rule.stats !== undefined)
  const stats = withStats?.stats
  const index = withStats === undefined ? -1 : rules.indexOf(withStats)
  return {
    name: `anyOf(${rules.map((rule) => rule.name).join(", ")})`,
    initial: Object.freeze(rules.map((rule) => rule.initial)),
    onSuccess: (tallies, now, durationMs) => step(rules, tallies, false, now, durationMs),
    onFailure: (tallies, now, durationMs) => step(rules, tallies, true, now, durationMs),
    shouldTrip: (tallies) => rules.some((rule, i) => rule.shouldTrip(tallies[i])),
    successMayTrip: rules.some((rule) => rule.successMayTrip === true),
    failureCount: (tallies) => Math.max(...rules.map((rule, i) => rule.failureCount(tallies[i]))),
    ...(stats === undefined
      ? {}
      : { stats: (tallies: Tallies, now?: number): WindowStats => stats(tallies[index], now) }),
    isTally: (u): u is Tallies =>
      Array.isArray(u) && u.length === rules.length && rules.every((rule, i) => rule.isTally(u[i]))
  }
}
