import { type CircuitBreakerMetrics, LiveCircuits } from "@circuit-breaker/core"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { type PoliciesView, policiesOf, sum, worse } from "./aggregate.js"
import { byName, type Circuit } from "./circuits.js"
import { circuitViews, type FailureView } from "./views.js"

type StateName = CircuitBreakerMetrics.StateName
type Series = LiveCircuits.MetricSeries

/** How often states are compared: a change shows within this. */
export const STATE_TICK_MILLIS = 250
const TICKS_PER_SECOND = 1000 / STATE_TICK_MILLIS

/** One circuit's outcomes over the last second. */
export interface Outcomes {
  readonly circuit: string
  readonly state: StateName
  readonly calls: number
  readonly successes: number
  readonly failures: number
  readonly rejections: number
  readonly timeouts: number
  /** Calls per duration bucket over the second (not cumulative). */
  readonly buckets: ReadonlyArray<number>
  /** Present when failures were added: the latest ones. */
  readonly lastFailures?: ReadonlyArray<FailureView>
}

const frame = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`

const delta = (
  name: string,
  state: StateName,
  now: Series,
  before: Series | undefined,
  group: ReadonlyArray<Circuit>
): Outcomes | undefined => {
  const calls = now.calls - (before?.calls ?? 0)
  if (calls === 0) return undefined
  const failures = now.failures - (before?.failures ?? 0)
  const base: Outcomes = {
    circuit: name,
    state,
    calls,
    successes: now.successes - (before?.successes ?? 0),
    failures,
    rejections: now.rejections - (before?.rejections ?? 0),
    timeouts: now.timeouts - (before?.timeouts ?? 0),
    buckets: now.durationBuckets.map((n, i) => n - (before?.durationBuckets[i] ?? 0))
  }
  return failures > 0 ? { ...base, lastFailures: circuitViews(group, 5)[0]!.lastFailures } : base
}

/** What one `/events` client has seen: the states and counters its next frames are compared with. */
class Tracker {
  private readonly states = new Map<string, StateName>()
  private readonly series = new Map<string, Series>()
  /** The policies view last sent for each circuit, as JSON: a frame carries the ones that changed. */
  private readonly policies = new Map<string, string>()
  private ticks = 0

  constructor(private readonly circuits: () => ReadonlyArray<Circuit>) {}

  first(): string {
    const views = circuitViews(this.circuits())
    for (const view of views) {
      this.states.set(view.name, view.state)
      this.policies.set(view.name, JSON.stringify(view.policies))
    }
    for (const [name, group] of byName(this.circuits())) {
      const s = sum(group)
      if (s !== undefined) this.series.set(name, s)
    }
    return frame("snapshot", { at: Date.now(), buckets: LiveCircuits.durationBuckets, circuits: views })
  }

  /** The frames of one tick: changes of state, and once a second the outcomes. */
  next(): string {
    const at = Date.now()
    const groups = byName(this.circuits())
    const second = ++this.ticks % TICKS_PER_SECOND === 0
    const frames: Array<string> = []
    const outcomes: Array<Outcomes> = []
    const policies: Array<PoliciesView & { readonly circuit: string }> = []
    for (const [name, group] of groups) {
      const state = group.map((c) => c.state()).reduce(worse)
      const before = this.states.get(name)
      if (before === undefined) frames.push(frame("circuit", circuitViews(group)[0]))
      else if (before !== state) frames.push(frame("state", { circuit: name, from: before, to: state, at }))
      this.states.set(name, state)
      if (!second) continue
      const now = sum(group)
      this.policyChange(name, policiesOf(group, now), policies)
      if (now === undefined) continue
      const changed = delta(name, state, now, this.series.get(name), group)
      this.series.set(name, now)
      if (changed !== undefined) outcomes.push(changed)
    }
    if (second) frames.push(frame("outcomes", { at, circuits: outcomes }))
    if (policies.length > 0) frames.push(frame("policies", { at, circuits: policies }))
    return frames.join("")
  }

  /** Adds `view` to `changed` when it differs from what was last sent for `name`. */
  private policyChange(
    name: string,
    view: PoliciesView,
    changed: Array<PoliciesView & { readonly circuit: string }>
  ): void {
    const json = JSON.stringify(view)
    if (this.policies.get(name) === json) return
    this.policies.set(name, json)
    changed.push({ circuit: name, ...view })
  }
}

/**
 * The `/events` stream: a `snapshot` first, then `circuit` (a new circuit), `state` (a change
 * of state) and, once a second, `outcomes` and `policies` (the circuits whose mode, window
 * rates or policy counters changed). It ends when the client goes away (the server
 * interrupts it) or when `closing` completes; `open` counts the streams running.
 */
export const eventStream = (
  circuits: () => ReadonlyArray<Circuit>,
  closing: Effect.Effect<void>,
  open: { count: number }
): Stream.Stream<Uint8Array> =>
  Stream.unwrap(
    Effect.sync(() => {
      const tracker = new Tracker(circuits)
      open.count++
      return Stream.concat(
        Stream.sync(() => tracker.first()),
        Stream.tick(`${STATE_TICK_MILLIS} millis`).pipe(
          Stream.drop(1),
          Stream.map(() => tracker.next()),
          Stream.filter((text) => text.length > 0)
        )
      ).pipe(Stream.interruptWhen(closing), Stream.encodeText, Stream.ensuring(Effect.sync(() => open.count--)))
    })
  )
