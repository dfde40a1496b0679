/**
 * The per-call table and its targets: issue 5's Promise-API targets (same-run ratios against
 * opossum and cockatiel) and the Effect-API targets as issue 14 restated them (item 7): the
 * breaker's added cost as a ratio to the idiomatic `Effect.timeout` + `Effect.retry`
 * composition's added cost, and to the bare `Effect.promise` step, per round. The no-breaker
 * reference rows stay printed beside them.
 */
import type { ContenderId, SpeedResult } from "./speed.js"
import { range, summarize, type Target, table } from "./stats.js"

interface Row {
  readonly group: string
  readonly id: ContenderId
  readonly label: string
  readonly floor: ContenderId
}

const rows: ReadonlyArray<Row> = [
  { group: "1", id: "direct", label: "floor: `await fn()`", floor: "direct" },
  { group: "1", id: "effectStep", label: "floor: `Effect.promise(fn)` step, one fiber loop", floor: "direct" },
  { group: "2", id: "oursClosed", label: "ours `execute()`, closed, defaults", floor: "direct" },
  { group: "2", id: "opossumClosed", label: "opossum `fire()`, closed, defaults", floor: "direct" },
  { group: "2", id: "cockatielClosed", label: "cockatiel `execute(fn)`, closed", floor: "direct" },
  { group: "3", id: "oursOpen", label: "ours `execute()`, OPEN: rejection", floor: "direct" },
  { group: "3", id: "opossumOpen", label: "opossum `fire()`, OPEN: rejection", floor: "direct" },
  { group: "3", id: "cockatielOpen", label: "cockatiel `execute(fn)`, OPEN: rejection", floor: "direct" },
  {
    group: "4",
    id: "effectDefault",
    label: "`withCircuitBreaker` step, defaults (timeout 10 s, 3 retries)",
    floor: "effectStep"
  },
  { group: "4", id: "effectLean", label: "`withCircuitBreaker` step, timeout off, 0 retries", floor: "effectStep" },
  {
    group: "4 ref",
    id: "effectIdiomatic",
    label: "no breaker: `Effect.timeout` (10 s) + `Effect.retry` (3, exponential) step",
    floor: "effectStep"
  },
  {
    group: "4 ref",
    id: "wrapperFloor",
    label: "no breaker: `withFiberRuntime` + `matchCauseEffect` step",
    floor: "effectStep"
  },
  {
    group: "4 ref",
    id: "timedWrapperFloor",
    label: "no breaker: the same around an `interruptible` step, `uninterruptible`",
    floor: "effectStep"
  }
]

const floorName: Record<string, string> = { direct: "`await fn()`", effectStep: "`Effect.promise` step" }

const perRound = (speed: SpeedResult, f: (t: (id: ContenderId) => number) => number): ReadonlyArray<number> =>
  speed.perRound.direct.map((_, r) => f((id) => speed.perRound[id][r]!))

export const speedTable = (speed: SpeedResult): string =>
  table(
    ["#", "benchmark", "n/round", "ns/call", "vs floor", "× floor", "Δ ns vs floor"],
    rows.map((row) => [
      row.group,
      row.label,
      String(speed.n[row.id]),
      range(summarize(speed.perRound[row.id])),
      floorName[row.floor]!,
      range(summarize(perRound(speed, (t) => t(row.id) / t(row.floor)))),
      range(summarize(perRound(speed, (t) => t(row.id) - t(row.floor))))
    ]),
    ["l", "l", "r", "r", "l", "r", "r"]
  )

export const speedTargets = (speed: SpeedResult): ReadonlyArray<Target> => {
  const closedOurs = summarize(perRound(speed, (t) => t("oursClosed") - t("direct")))
  const closedOpossum = summarize(perRound(speed, (t) => t("opossumClosed") - t("direct")))
  const closedRatio = summarize(
    perRound(speed, (t) => (t("oursClosed") - t("direct")) / (t("opossumClosed") - t("direct")))
  )
  const openOurs = summarize(speed.perRound.oursOpen)
  const openPeers = summarize(perRound(speed, (t) => Math.min(t("opossumOpen"), t("cockatielOpen"))))
  const openRatio = summarize(perRound(speed, (t) => t("oursOpen") / Math.min(t("opossumOpen"), t("cockatielOpen"))))
  const effectDefault = summarize(perRound(speed, (t) => t("effectDefault") - t("effectStep")))
  const effectLean = summarize(perRound(speed, (t) => t("effectLean") - t("effectStep")))
  // What the Effect runtime alone takes for such a wrapper, in the same rounds: the part of each budget no breaker can save.
  const timedFloor = summarize(perRound(speed, (t) => t("timedWrapperFloor") - t("effectStep")))
  const untimedFloor = summarize(perRound(speed, (t) => t("wrapperFloor") - t("effectStep")))
  const idiomatic = summarize(perRound(speed, (t) => t("effectIdiomatic") - t("effectStep")))
  const step = summarize(speed.perRound.effectStep)
  const defaultRatio = summarize(
    perRound(speed, (t) => (t("effectDefault") - t("effectStep")) / (t("effectIdiomatic") - t("effectStep")))
  )
  const leanRatio = summarize(perRound(speed, (t) => (t("effectLean") - t("effectStep")) / t("effectStep")))
  return [
    {
      name: "Promise closed: our overhead ≤ opossum's (Δ vs `await fn()`)",
      measured: `ours ${range(closedOurs, " ns")} vs opossum ${range(closedOpossum, " ns")}`,
      limit: "ratio ≤ 1",
      ratio: range(closedRatio),
      pass: closedRatio.median <= 1
    },
    {
      name: "Promise open: our rejection ≤ min(opossum, cockatiel)",
      measured: `ours ${range(openOurs, " ns")} vs min ${range(openPeers, " ns")}`,
      limit: "ratio ≤ 1",
      ratio: range(openRatio),
      pass: openRatio.median <= 1
    },
    {
      name: "Effect: defaults, added cost ≤ 0.1× that of `Effect.timeout` + `Effect.retry` (Δ vs the bare step)",
      measured: `${range(effectDefault, " ns")} vs ${range(idiomatic, " ns")}; no-breaker reference ${range(timedFloor, " ns")}`,
      limit: "ratio ≤ 0.1",
      ratio: range(defaultRatio),
      pass: defaultRatio.median <= 0.1
    },
    {
      name: "Effect: timeout off, 0 retries, added cost ≤ 1× the bare `Effect.promise` step",
      measured: `${range(effectLean, " ns")} vs the step ${range(step, " ns")}; no-breaker reference ${range(untimedFloor, " ns")}`,
      limit: "ratio ≤ 1",
      ratio: range(leanRatio),
      pass: leanRatio.median <= 1
    }
  ]
}
