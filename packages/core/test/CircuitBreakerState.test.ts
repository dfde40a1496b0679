import { describe, expect, it } from "@effect/vitest"
import * as CircuitBreakerState from "../src/CircuitBreakerState.js"
import * as TripRule from "../src/TripRule.js"

type CircuitState = CircuitBreakerState.CircuitState<number>
type CircuitEvent = CircuitBreakerState.CircuitEvent
type Decision = CircuitBreakerState.Decision

// Trips after 3 consecutive failures, stays Open for 1000 ms, closes after 3 trial successes.
const policy: CircuitBreakerState.Policy<number> = {
  rule: TripRule.consecutiveFailures(3),
  resetTimeout: 1000,
  successThreshold: 3
}

const closed = (generation: number, tally: number, since: number): CircuitState => ({
  _tag: "Closed",
  generation,
  since,
  tally
})

const open = (generation: number, openedAt: number, retryAt: number): CircuitState => ({
  _tag: "Open",
  generation,
  since: openedAt,
  openedAt,
  retryAt
})

const halfOpen = (
  generation: number,
  since: number,
  trialsInFlight: number,
  successes: number,
  permitsExpireAt: number
): CircuitState => ({
  _tag: "HalfOpen",
  generation,
  since,
  trialsInFlight,
  successes,
  permitsExpireAt
})

// ---------------------------------------------------------------------------------------------------------------------
// The states of the table. Every state is at generation 5; a "stale" ticket belongs to generation 4.
// The table's policy sets no trialPermitTtl: permits never expire, so the Half-Open states' permitsExpireAt (their
// latest admission) has passed at the time of the events, without effect. Expiry has tables of its own, further down.
// ---------------------------------------------------------------------------------------------------------------------

const GEN = 5

interface StateCase {
  readonly name: string
  readonly state: CircuitState
  /** The time at which the events of the table happen. */
  readonly now: number
}

const closedBelow: StateCase = { name: "Closed, tally 1 (below threshold - 1)", state: closed(GEN, 1, 100), now: 500 }
const closedEdge: StateCase = { name: "Closed, tally 2 (threshold - 1)", state: closed(GEN, 2, 100), now: 500 }
const openBefore: StateCase = { name: "Open, before retryAt", state: open(GEN, 1000, 2000), now: 1500 }
const openAt: StateCase = { name: "Open, at retryAt", state: open(GEN, 1000, 2000), now: 2000 }
const openAfter: StateCase = { name: "Open, after retryAt", state: open(GEN, 1000, 2000), now: 2500 }
const halfFree: StateCase = {
  name: "HalfOpen, free slots (1 in flight, 0 successes)",
  state: halfOpen(GEN, 2000, 1, 0, 2500),
  now: 3000
}
const halfFull: StateCase = {
  name: "HalfOpen, full slots (2 in flight, 1 success)",
  state: halfOpen(GEN, 2000, 2, 1, 2600),
  now: 3000
}
const halfNear: StateCase = {
  name: "HalfOpen, successes one short of threshold (1 in flight, 2 successes)",
  state: halfOpen(GEN, 2000, 1, 2, 2700),
  now: 3000
}

// ---------------------------------------------------------------------------------------------------------------------
// The events of the table.
// ---------------------------------------------------------------------------------------------------------------------

type OutcomeTag = "Succeeded" | "Failed" | "TimedOut" | "Interrupted"
type TicketedTag = "Admitted" | OutcomeTag
type TicketKind = `${"trial" | "non-trial"}, ${"current" | "stale"} generation`
type EventName = `${TicketedTag} ${TicketKind}` | "Reset" | "Tripped" | "Elapsed"

const ticketedTags: ReadonlyArray<TicketedTag> = ["Admitted", "Succeeded", "Failed", "TimedOut", "Interrupted"]

const eventsAt = (generation: number, now: number): Record<EventName, CircuitEvent> => {
  const events: Partial<Record<EventName, CircuitEvent>> = {}
  for (const _tag of ticketedTags) {
    for (const trial of [true, false]) {
      for (const stale of [false, true]) {
        const name: EventName = `${_tag} ${trial ? "trial" : "non-trial"}, ${stale ? "stale" : "current"} generation`
        events[name] = { _tag, now, trial, generation: stale ? generation - 1 : generation }
      }
    }
  }
  events.Reset = { _tag: "Reset", now }
  events.Tripped = { _tag: "Tripped", now }
  events.Elapsed = { _tag: "Elapsed", now }
  return events as Record<EventName, CircuitEvent>
}

// `Record<EventName, ...>` makes the compiler check that every state lists every event.
type Expectations = Record<EventName, CircuitState | "unchanged">

const expectations: ReadonlyArray<readonly [StateCase, Expectations]> = [
  [
    closedBelow,
    {
      "Admitted trial, current generation": "unchanged",
      "Admitted trial, stale generation": "unchanged",
      "Admitted non-trial, current generation": "unchanged",
      "Admitted non-trial, stale generation": "unchanged",
      "Succeeded trial, current generation": "unchanged",
      "Succeeded trial, stale generation": "unchanged",
      "Succeeded non-trial, current generation": closed(GEN, 0, 100),
      "Succeeded non-trial, stale generation": "unchanged",
      "Failed trial, current generation": "unchanged",
      "Failed trial, stale generation": "unchanged",
      "Failed non-trial, current generation": closed(GEN, 2, 100),
      "Failed non-trial, stale generation": "unchanged",
      "TimedOut trial, current generation": "unchanged",
      "TimedOut trial, stale generation": "unchanged",
      "TimedOut non-trial, current generation": closed(GEN, 2, 100),
      "TimedOut non-trial, stale generation": "unchanged",
      "Interrupted trial, current generation": "unchanged",
      "Interrupted trial, stale generation": "unchanged",
      "Interrupted non-trial, current generation": "unchanged",
      "Interrupted non-trial, stale generation": "unchanged",
      Reset: closed(GEN + 1, 0, 500),
      Tripped: open(GEN + 1, 500, 1500),
      Elapsed: "unchanged"
    }
  ],
  [
    closedEdge,
    {
      "Admitted trial, current generation": "unchanged",
      "Admitted trial, stale generation": "unchanged",
      "Admitted non-trial, current generation": "unchanged",
      "Admitted non-trial, stale generation": "unchanged",
      "Succeeded trial, current generation": "unchanged",
      "Succeeded trial, stale generation": "unchanged",
      "Succeeded non-trial, current generation": closed(GEN, 0, 100),
      "Succeeded non-trial, stale generation": "unchanged",
      "Failed trial, current generation": "unchanged",
      "Failed trial, stale generation": "unchanged",
      "Failed non-trial, current generation": open(GEN + 1, 500, 1500),
      "Failed non-trial, stale generation": "unchanged",
      "TimedOut trial, current generation": "unchanged",
      "TimedOut trial, stale generation": "unchanged",
      "TimedOut non-trial, current generation": open(GEN + 1, 500, 1500),
      "TimedOut non-trial, stale generation": "unchanged",
      "Interrupted trial, current generation": "unchanged",
      "Interrupted trial, stale generation": "unchanged",
      "Interrupted non-trial, current generation": "unchanged",
      "Interrupted non-trial, stale generation": "unchanged",
      Reset: closed(GEN + 1, 0, 500),
      Tripped: open(GEN + 1, 500, 1500),
      Elapsed: "unchanged"
    }
  ],
  [
    openBefore,
    {
      "Admitted trial, current generation": "unchanged",
      "Admitted trial, stale generation": "unchanged",
      "Admitted non-trial, current generation": "unchanged",
      "Admitted non-trial, stale generation": "unchanged",
      "Succeeded trial, current generation": "unchanged",
      "Succeeded trial, stale generation": "unchanged",
      "Succeeded non-trial, current generation": "unchanged",
      "Succeeded non-trial, stale generation": "unchanged",
      "Failed trial, current generation": "unchanged",
      "Failed trial, stale generation": "unchanged",
      "Failed non-trial, current generation": "unchanged",
      "Failed non-trial, stale generation": "unchanged",
      "TimedOut trial, current generation": "unchanged",
      "TimedOut trial, stale generation": "unchanged",
      "TimedOut non-trial, current generation": "unchanged",
      "TimedOut non-trial, stale generation": "unchanged",
      "Interrupted trial, current generation": "unchanged",
      "Interrupted trial, stale generation": "unchanged",
      "Interrupted non-trial, current generation": "unchanged",
      "Interrupted non-trial, stale generation": "unchanged",
      Reset: closed(GEN + 1, 0, 1500),
      Tripped: open(GEN + 1, 1500, 2500),
      Elapsed: "unchanged"
    }
  ],
  // At and after retryAt the circuit is Half-Open (generation 6) before the event applies, so tickets of the Open
  // generation (5) and older are stale. Tickets of generation 6 are covered by `halfOpenTicketRows` below.
  [
    openAt,
    {
      "Admitted trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Admitted trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Admitted non-trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Admitted non-trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Succeeded trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Succeeded trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Succeeded non-trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Succeeded non-trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Failed trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Failed trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Failed non-trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Failed non-trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "TimedOut trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "TimedOut trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "TimedOut non-trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "TimedOut non-trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Interrupted trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Interrupted trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Interrupted non-trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Interrupted non-trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      Reset: closed(GEN + 2, 0, 2000),
      Tripped: open(GEN + 2, 2000, 3000),
      Elapsed: halfOpen(GEN + 1, 2000, 0, 0, 2000)
    }
  ],
  // Half-Open is entered at retryAt (2000), not at the time the event is observed (2500).
  [
    openAfter,
    {
      "Admitted trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Admitted trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Admitted non-trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Admitted non-trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Succeeded trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Succeeded trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Succeeded non-trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Succeeded non-trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Failed trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Failed trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Failed non-trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Failed non-trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "TimedOut trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "TimedOut trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "TimedOut non-trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "TimedOut non-trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Interrupted trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Interrupted trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Interrupted non-trial, current generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      "Interrupted non-trial, stale generation": halfOpen(GEN + 1, 2000, 0, 0, 2000),
      Reset: closed(GEN + 2, 0, 2500),
      Tripped: open(GEN + 2, 2500, 3500),
      Elapsed: halfOpen(GEN + 1, 2000, 0, 0, 2000)
    }
  ],
  [
    halfFree,
    {
      "Admitted trial, current generation": halfOpen(GEN, 2000, 2, 0, 3000),
      "Admitted trial, stale generation": "unchanged",
      "Admitted non-trial, current generation": "unchanged",
      "Admitted non-trial, stale generation": "unchanged",
      "Succeeded trial, current generation": halfOpen(GEN, 2000, 0, 1, 2500),
      "Succeeded trial, stale generation": "unchanged",
      "Succeeded non-trial, current generation": "unchanged",
      "Succeeded non-trial, stale generation": "unchanged",
      "Failed trial, current generation": open(GEN + 1, 3000, 4000),
      "Failed trial, stale generation": "unchanged",
      "Failed non-trial, current generation": "unchanged",
      "Failed non-trial, stale generation": "unchanged",
      "TimedOut trial, current generation": open(GEN + 1, 3000, 4000),
      "TimedOut trial, stale generation": "unchanged",
      "TimedOut non-trial, current generation": "unchanged",
      "TimedOut non-trial, stale generation": "unchanged",
      "Interrupted trial, current generation": halfOpen(GEN, 2000, 0, 0, 2500),
      "Interrupted trial, stale generation": "unchanged",
      "Interrupted non-trial, current generation": "unchanged",
      "Interrupted non-trial, stale generation": "unchanged",
      Reset: closed(GEN + 1, 0, 3000),
      Tripped: open(GEN + 1, 3000, 4000),
      Elapsed: "unchanged"
    }
  ],
  [
    halfFull,
    {
      "Admitted trial, current generation": "unchanged",
      "Admitted trial, stale generation": "unchanged",
      "Admitted non-trial, current generation": "unchanged",
      "Admitted non-trial, stale generation": "unchanged",
      "Succeeded trial, current generation": halfOpen(GEN, 2000, 1, 2, 2600),
      "Succeeded trial, stale generation": "unchanged",
      "Succeeded non-trial, current generation": "unchanged",
      "Succeeded non-trial, stale generation": "unchanged",
      "Failed trial, current generation": open(GEN + 1, 3000, 4000),
      "Failed trial, stale generation": "unchanged",
      "Failed non-trial, current generation": "unchanged",
      "Failed non-trial, stale generation": "unchanged",
      "TimedOut trial, current generation": open(GEN + 1, 3000, 4000),
      "TimedOut trial, stale generation": "unchanged",
      "TimedOut non-trial, current generation": "unchanged",
      "TimedOut non-trial, stale generation": "unchanged",
      "Interrupted trial, current generation": halfOpen(GEN, 2000, 1, 1, 2600),
      "Interrupted trial, stale generation": "unchanged",
      "Interrupted non-trial, current generation": "unchanged",
      "Interrupted non-trial, stale generation": "unchanged",
      Reset: closed(GEN + 1, 0, 3000),
      Tripped: open(GEN + 1, 3000, 4000),
      Elapsed: "unchanged"
    }
  ],
  [
    halfNear,
    {
      "Admitted trial, current generation": "unchanged",
      "Admitted trial, stale generation": "unchanged",
      "Admitted non-trial, current generation": "unchanged",
      "Admitted non-trial, stale generation": "unchanged",
      "Succeeded trial, current generation": closed(GEN + 1, 0, 3000),
      "Succeeded trial, stale generation": "unchanged",
      "Succeeded non-trial, current generation": "unchanged",
      "Succeeded non-trial, stale generation": "unchanged",
      "Failed trial, current generation": open(GEN + 1, 3000, 4000),
      "Failed trial, stale generation": "unchanged",
      "Failed non-trial, current generation": "unchanged",
      "Failed non-trial, stale generation": "unchanged",
      "TimedOut trial, current generation": open(GEN + 1, 3000, 4000),
      "TimedOut trial, stale generation": "unchanged",
      "TimedOut non-trial, current generation": "unchanged",
      "TimedOut non-trial, stale generation": "unchanged",
      "Interrupted trial, current generation": halfOpen(GEN, 2000, 0, 2, 2700),
      "Interrupted trial, stale generation": "unchanged",
      "Interrupted non-trial, current generation": "unchanged",
      "Interrupted non-trial, stale generation": "unchanged",
      Reset: closed(GEN + 1, 0, 3000),
      Tripped: open(GEN + 1, 3000, 4000),
      Elapsed: "unchanged"
    }
  ]
]

interface Row {
  readonly name: string
  readonly state: CircuitState
  readonly event: CircuitEvent
  readonly expected: CircuitState
}

const tableRows: ReadonlyArray<Row> = expectations.flatMap(([{ name, now, state }, expected]) => {
  const events = eventsAt(state.generation, now)
  return (Object.keys(expected) as Array<EventName>).map(
    (eventName): Row => ({
      name: `${name} + ${eventName} → ${expected[eventName] === "unchanged" ? "unchanged" : expected[eventName]._tag}`,
      state,
      event: events[eventName],
      expected: expected[eventName] === "unchanged" ? state : expected[eventName]
    })
  )
})

// Tickets of the Half-Open generation an Open circuit enters when its retryAt has come.
const halfOpenTicketRows: ReadonlyArray<Row> = [openAt, openAfter].flatMap(
  ({ name, now, state }): Array<Row> => [
    {
      name: `${name} + Admitted trial of the Half-Open generation → HalfOpen with one trial`,
      state,
      event: { _tag: "Admitted", now, trial: true, generation: GEN + 1 },
      expected: halfOpen(GEN + 1, 2000, 1, 0, now)
    },
    {
      name: `${name} + Admitted non-trial of the Half-Open generation → HalfOpen without trials`,
      state,
      event: { _tag: "Admitted", now, trial: false, generation: GEN + 1 },
      expected: halfOpen(GEN + 1, 2000, 0, 0, 2000)
    },
    {
      name: `${name} + Failed trial of the Half-Open generation → Open again`,
      state,
      event: { _tag: "Failed", now, trial: true, generation: GEN + 1 },
      expected: open(GEN + 2, now, now + 1000)
    },
    {
      name: `${name} + Interrupted trial of the Half-Open generation → HalfOpen, no negative count`,
      state,
      event: { _tag: "Interrupted", now, trial: true, generation: GEN + 1 },
      expected: halfOpen(GEN + 1, 2000, 0, 0, 2000)
    }
  ]
)

// Rows that need a policy other than the default.
const thresholdOnePolicy: CircuitBreakerState.Policy<number> = {
  rule: TripRule.consecutiveFailures(1),
  resetTimeout: 250,
  successThreshold: 1
}

interface PolicyRow extends Row {
  readonly policy: CircuitBreakerState.Policy<number>
}

const thresholdOneRows: ReadonlyArray<PolicyRow> = [
  {
    name: "threshold 1: Closed + one non-trial Failed → Open",
    policy: thresholdOnePolicy,
    state: closed(0, 0, 0),
    event: { _tag: "Failed", now: 10, trial: false, generation: 0 },
    expected: open(1, 10, 260)
  },
  {
    name: "threshold 1: Closed + one non-trial TimedOut → Open",
    policy: thresholdOnePolicy,
    state: closed(0, 0, 0),
    event: { _tag: "TimedOut", now: 10, trial: false, generation: 0 },
    expected: open(1, 10, 260)
  },
  {
    name: "success threshold 1: HalfOpen + one trial Succeeded → Closed",
    policy: thresholdOnePolicy,
    state: halfOpen(3, 0, 1, 0, 0),
    event: { _tag: "Succeeded", now: 10, trial: true, generation: 3 },
    expected: closed(4, 0, 10)
  },
  {
    name: "success threshold 1: HalfOpen with its one slot taken + Admitted trial → unchanged",
    policy: thresholdOnePolicy,
    state: halfOpen(3, 0, 1, 0, 0),
    event: { _tag: "Admitted", now: 10, trial: true, generation: 3 },
    expected: halfOpen(3, 0, 1, 0, 0)
  }
]

describe("CircuitBreakerState", () => {
  describe("transition table", () => {
    it("covers every state × event pair", () => {
      expect(tableRows).toHaveLength(8 * 23)
      expect(new Set(tableRows.map((row) => row.name)).size).toBe(tableRows.length)
    })

    it.each(tableRows)("$name", ({ event, expected, state }) => {
      expect(CircuitBreakerState.transition(policy, state, event)).toStrictEqual(expected)
    })

    it.each(halfOpenTicketRows)("$name", ({ event, expected, state }) => {
      expect(CircuitBreakerState.transition(policy, state, event)).toStrictEqual(expected)
    })

    it.each(thresholdOneRows)("$name", ({ event, expected, policy, state }) => {
      expect(CircuitBreakerState.transition(policy, state, event)).toStrictEqual(expected)
    })
  })

  describe("decide", () => {
    const rows: ReadonlyArray<{
      readonly name: string
      readonly policy: CircuitBreakerState.Policy<number>
      readonly state: CircuitState
      readonly now: number
      readonly expected: Decision
    }> = [
      {
        name: "Closed → Admit",
        policy,
        state: closed(GEN, 2, 100),
        now: 500,
        expected: { _tag: "Admit", generation: GEN }
      },
      {
        name: "Open, long before retryAt → Reject with retryAt - now",
        policy,
        state: open(GEN, 1000, 2000),
        now: 1000,
        expected: { _tag: "Reject", retryAfter: 1000 }
      },
      {
        name: "Open, before retryAt → Reject with retryAt - now",
        policy,
        state: open(GEN, 1000, 2000),
        now: 1500,
        expected: { _tag: "Reject", retryAfter: 500 }
      },
      {
        name: "Open, 1 ms before retryAt → Reject with 1",
        policy,
        state: open(GEN, 1000, 2000),
        now: 1999,
        expected: { _tag: "Reject", retryAfter: 1 }
      },
      {
        name: "Open, at retryAt → AdmitTrial in the Half-Open generation",
        policy,
        state: open(GEN, 1000, 2000),
        now: 2000,
        expected: { _tag: "AdmitTrial", generation: GEN + 1 }
      },
      {
        name: "Open, after retryAt → AdmitTrial in the Half-Open generation",
        policy,
        state: open(GEN, 1000, 2000),
        now: 9000,
        expected: { _tag: "AdmitTrial", generation: GEN + 1 }
      },
      {
        name: "HalfOpen, no trials yet → AdmitTrial",
        policy,
        state: halfOpen(GEN, 2000, 0, 0, 2000),
        now: 3000,
        expected: { _tag: "AdmitTrial", generation: GEN }
      },
      {
        name: "HalfOpen, free slots → AdmitTrial",
        policy,
        state: halfFree.state,
        now: 3000,
        expected: { _tag: "AdmitTrial", generation: GEN }
      },
      {
        name: "HalfOpen, 0 in flight and successes one short → AdmitTrial",
        policy,
        state: halfOpen(GEN, 2000, 0, 2, 2400),
        now: 3000,
        expected: { _tag: "AdmitTrial", generation: GEN }
      },
      {
        name: "HalfOpen, full slots (in flight) → Reject with resetTimeout",
        policy,
        state: halfOpen(GEN, 2000, 3, 0, 2900),
        now: 3000,
        expected: { _tag: "Reject", retryAfter: 1000 }
      },
      {
        name: "HalfOpen, full slots (in flight + successes) → Reject with resetTimeout",
        policy,
        state: halfFull.state,
        now: 3000,
        expected: { _tag: "Reject", retryAfter: 1000 }
      },
      {
        name: "HalfOpen, successes one short and one in flight → Reject with resetTimeout",
        policy,
        state: halfNear.state,
        now: 3000,
        expected: { _tag: "Reject", retryAfter: 1000 }
      },
      {
        name: "success threshold 1: HalfOpen with its slot taken → Reject with that policy's resetTimeout",
        policy: thresholdOnePolicy,
        state: halfOpen(3, 0, 1, 0, 0),
        now: 10,
        expected: { _tag: "Reject", retryAfter: 250 }
      }
    ]

    it.each(rows)("$name", ({ expected, now, policy, state }) => {
      expect(CircuitBreakerState.decide(policy, state, now)).toStrictEqual(expected)
    })
  })

  describe("admit", () => {
    const rows: ReadonlyArray<{
      readonly name: string
      readonly state: CircuitState
      readonly now: number
      readonly expected: readonly [Decision, CircuitState]
    }> = [
      {
        name: "Closed → Admit, state unchanged",
        state: closed(GEN, 1, 100),
        now: 500,
        expected: [{ _tag: "Admit", generation: GEN }, closed(GEN, 1, 100)]
      },
      {
        name: "Open before retryAt → Reject, state unchanged",
        state: open(GEN, 1000, 2000),
        now: 1500,
        expected: [{ _tag: "Reject", retryAfter: 500 }, open(GEN, 1000, 2000)]
      },
      {
        name: "Open at retryAt → AdmitTrial, Half-Open with the trial counted",
        state: open(GEN, 1000, 2000),
        now: 2000,
        expected: [{ _tag: "AdmitTrial", generation: GEN + 1 }, halfOpen(GEN + 1, 2000, 1, 0, 2000)]
      },
      {
        name: "Open after retryAt → AdmitTrial, Half-Open since retryAt with the trial counted",
        state: open(GEN, 1000, 2000),
        now: 2500,
        expected: [{ _tag: "AdmitTrial", generation: GEN + 1 }, halfOpen(GEN + 1, 2000, 1, 0, 2500)]
      },
      {
        name: "HalfOpen with free slots → AdmitTrial, one more trial in flight",
        state: halfFree.state,
        now: 3000,
        expected: [{ _tag: "AdmitTrial", generation: GEN }, halfOpen(GEN, 2000, 2, 0, 3000)]
      },
      {
        name: "HalfOpen with full slots → Reject with resetTimeout, state unchanged",
        state: halfFull.state,
        now: 3000,
        expected: [{ _tag: "Reject", retryAfter: 1000 }, halfFull.state]
      },
      {
        name: "HalfOpen with successes one short and a trial in flight → Reject, state unchanged",
        state: halfNear.state,
        now: 3000,
        expected: [{ _tag: "Reject", retryAfter: 1000 }, halfNear.state]
      }
    ]

    it.each(rows)("$name", ({ expected, now, state }) => {
      expect(CircuitBreakerState.admit(policy, state, now)).toStrictEqual(expected)
    })

    it("agrees with decide followed by the Admitted transition", () => {
      for (const { now, state } of rows) {
        const [decision, next] = CircuitBreakerState.admit(policy, state, now)
        expect(decision).toStrictEqual(CircuitBreakerState.decide(policy, state, now))
        const ticket = CircuitBreakerState.ticketOf(decision)
        const expected =
          ticket === undefined
            ? CircuitBreakerState.advance(policy, state, now)
            : CircuitBreakerState.transition(policy, state, { _tag: "Admitted", now, ...ticket })
        expect(next).toStrictEqual(expected)
      }
    })

    it("fills exactly successThreshold slots, then rejects", () => {
      let state: CircuitState = halfOpen(GEN, 2000, 0, 0, 2000)
      const decisions: Array<Decision["_tag"]> = []
      for (let i = 0; i < 5; i++) {
        const [decision, next] = CircuitBreakerState.admit(policy, state, 3000 + i)
        decisions.push(decision._tag)
        state = next
      }
      expect(decisions).toStrictEqual(["AdmitTrial", "AdmitTrial", "AdmitTrial", "Reject", "Reject"])
      expect(state).toStrictEqual(halfOpen(GEN, 2000, 3, 0, 3002))
    })

    it("maxConcurrentTrials bounds the trials at once, apart from the successes needed to close", () => {
      const oneAtATime = { ...policy, maxConcurrentTrials: 1 }
      let state: CircuitState = halfOpen(GEN, 2000, 0, 0, 2000)
      const [first, afterFirst] = CircuitBreakerState.admit(oneAtATime, state, 3000)
      expect(first._tag).toBe("AdmitTrial")
      // The one probe is in flight: everyone else is rejected.
      expect(CircuitBreakerState.admit(oneAtATime, afterFirst, 3001)[0]._tag).toBe("Reject")
      // It succeeds: one success of three, and the slot is free for the next probe.
      state = CircuitBreakerState.transition(oneAtATime, afterFirst, {
        _tag: "Succeeded",
        now: 3002,
        generation: GEN,
        trial: true
      })
      expect(state).toStrictEqual(halfOpen(GEN, 2000, 0, 1, 3000))
      for (let i = 0; i < 2; i++) {
        const [decision, next] = CircuitBreakerState.admit(oneAtATime, state, 3003 + i)
        expect(decision._tag).toBe("AdmitTrial")
        state = CircuitBreakerState.transition(oneAtATime, next, {
          _tag: "Succeeded",
          now: 3003 + i,
          generation: GEN,
          trial: true
        })
      }
      expect(state._tag).toBe("Closed")
    })

    it("maxConcurrentTrials above successThreshold is capped by it", () => {
      const wide = { ...policy, successThreshold: 2, maxConcurrentTrials: 5 }
      let state: CircuitState = halfOpen(GEN, 2000, 0, 0, 2000)
      const decisions: Array<Decision["_tag"]> = []
      for (let i = 0; i < 3; i++) {
        const [decision, next] = CircuitBreakerState.admit(wide, state, 3000 + i)
        decisions.push(decision._tag)
        state = next
      }
      expect(decisions).toStrictEqual(["AdmitTrial", "AdmitTrial", "Reject"])
    })
  })

  describe("isolation", () => {
    const isolate = (state: CircuitState, now: number) =>
      CircuitBreakerState.transition(policy, state, { _tag: "Isolated", now })
    const release = (state: CircuitState, now: number, generation: number) =>
      CircuitBreakerState.transition(policy, state, { _tag: "Released", now, generation })

    it("opens a Closed circuit in a new generation, and holds it Open past resetTimeout", () => {
      const state = isolate(closed(GEN, 2, 100), 500)
      expect(state).toStrictEqual({ ...open(GEN + 1, 500, 1500), isolated: 1 })
      expect(CircuitBreakerState.isolations(state)).toBe(1)
      expect(CircuitBreakerState.advance(policy, state, 1_000_000)).toBe(state)
      expect(CircuitBreakerState.decide(policy, state, 1_000_000)).toStrictEqual({
        _tag: "Reject",
        retryAfter: policy.resetTimeout
      })
    })

    it("stacks handles in one generation; each release takes one; the last closes", () => {
      let state = isolate(isolate(halfOpen(GEN, 2000, 1, 1, 2000), 2100), 2200)
      expect(state).toMatchObject({ _tag: "Open", generation: GEN + 1, isolated: 2 })
      state = release(state, 2300, GEN + 1)
      expect(state).toMatchObject({ _tag: "Open", generation: GEN + 1, isolated: 1 })
      state = release(state, 2400, GEN + 1)
      expect(state).toStrictEqual(closed(GEN + 2, 0, 2400))
    })

    it("a trip leaves an isolated circuit as it is; a reset ends the isolation, and old handles release nothing", () => {
      const isolated = isolate(closed(GEN, 0, 0), 10)
      expect(CircuitBreakerState.transition(policy, isolated, { _tag: "Tripped", now: 20 })).toBe(isolated)
      const reset = CircuitBreakerState.transition(policy, isolated, { _tag: "Reset", now: 30 })
      expect(reset).toStrictEqual(closed(GEN + 2, 0, 30))
      const again = isolate(reset, 40)
      expect(release(again, 50, isolated.generation)).toBe(again)
    })

    it("isolating an Open circuit moves it to a new, isolated generation", () => {
      const state = isolate(open(GEN, 100, 1100), 200)
      expect(state).toStrictEqual({ ...open(GEN + 1, 200, 1200), isolated: 1 })
    })
  })

  describe("ticketOf", () => {
    it.each([
      { decision: { _tag: "Admit", generation: 7 } as Decision, expected: { generation: 7, trial: false } },
      { decision: { _tag: "AdmitTrial", generation: 8 } as Decision, expected: { generation: 8, trial: true } },
      { decision: { _tag: "Reject", retryAfter: 10 } as Decision, expected: undefined }
    ])("$decision._tag → $expected", ({ decision, expected }) => {
      expect(CircuitBreakerState.ticketOf(decision)).toStrictEqual(expected)
    })
  })

  describe("initial", () => {
    it("is Closed at generation 0 with the rule's initial tally", () => {
      expect(CircuitBreakerState.initial(policy)).toStrictEqual(closed(0, 0, 0))
      expect(CircuitBreakerState.initial(policy, 1234)).toStrictEqual(closed(0, 0, 1234))
    })
  })

  describe("advance", () => {
    it.each([
      { name: "Closed stays Closed", state: closed(GEN, 2, 100), now: 99_999, expected: closed(GEN, 2, 100) },
      {
        name: "Open before retryAt stays Open",
        state: open(GEN, 1000, 2000),
        now: 1999,
        expected: open(GEN, 1000, 2000)
      },
      {
        name: "Open at retryAt → HalfOpen",
        state: open(GEN, 1000, 2000),
        now: 2000,
        expected: halfOpen(GEN + 1, 2000, 0, 0, 2000)
      },
      {
        name: "Open after retryAt → HalfOpen",
        state: open(GEN, 1000, 2000),
        now: 5000,
        expected: halfOpen(GEN + 1, 2000, 0, 0, 2000)
      },
      { name: "HalfOpen stays HalfOpen", state: halfFull.state, now: 99_999, expected: halfFull.state }
    ])("$name", ({ expected, now, state }) => {
      expect(CircuitBreakerState.advance(policy, state, now)).toStrictEqual(expected)
    })
  })

  // -------------------------------------------------------------------------------------------------------------------
  // Trial permits expire: the table's policy with a trialPermitTtl of 500 ms. The Half-Open states below had their
  // latest admission at 2500, so their permits expire at 3000.
  // -------------------------------------------------------------------------------------------------------------------

  describe("trial permits expire", () => {
    const ttlPolicy: CircuitBreakerState.Policy<number> = { ...policy, trialPermitTtl: 500 }
    /** Two trials in flight, one success: every slot taken. */
    const held = halfOpen(GEN, 2000, 2, 1, 3000)
    /** One trial in flight, successes one short of the threshold. */
    const nearlyClosed = halfOpen(GEN, 2000, 1, 2, 3000)

    const rows: ReadonlyArray<Row> = [
      {
        name: "one ms before permitsExpireAt + Elapsed → unchanged",
        state: held,
        event: { _tag: "Elapsed", now: 2999 },
        expected: held
      },
      {
        name: "at permitsExpireAt + Elapsed → the slots are free, the generation bumped, the successes kept",
        state: held,
        event: { _tag: "Elapsed", now: 3000 },
        expected: halfOpen(GEN + 1, 2000, 0, 1, 3000)
      },
      {
        name: "long after permitsExpireAt + Elapsed → the same",
        state: held,
        event: { _tag: "Elapsed", now: 99_999 },
        expected: halfOpen(GEN + 1, 2000, 0, 1, 3000)
      },
      {
        name: "no trials in flight, long after permitsExpireAt + Elapsed → unchanged",
        state: halfOpen(GEN, 2000, 0, 1, 3000),
        event: { _tag: "Elapsed", now: 99_999 },
        expected: halfOpen(GEN, 2000, 0, 1, 3000)
      },
      {
        name: "one ms before permitsExpireAt + Succeeded trial → Closed (the permit still counts)",
        state: nearlyClosed,
        event: { _tag: "Succeeded", now: 2999, trial: true, generation: GEN },
        expected: closed(GEN + 1, 0, 2999)
      },
      {
        name: "one ms before permitsExpireAt + Failed trial → Open (the permit still counts)",
        state: nearlyClosed,
        event: { _tag: "Failed", now: 2999, trial: true, generation: GEN },
        expected: open(GEN + 1, 2999, 3999)
      },
      ...(["Succeeded", "Failed", "TimedOut", "Interrupted"] as const).map(
        (_tag): Row => ({
          name: `at permitsExpireAt + late ${_tag} trial of the expired generation → ignored, the slots freed`,
          state: nearlyClosed,
          event: { _tag, now: 3000, trial: true, generation: GEN },
          expected: halfOpen(GEN + 1, 2000, 0, 2, 3000)
        })
      ),
      ...(["Succeeded", "Failed", "TimedOut", "Interrupted"] as const).map(
        (_tag): Row => ({
          name: `after expiry + late ${_tag} trial of the expired generation → unchanged`,
          state: halfOpen(GEN + 1, 2000, 0, 2, 3000),
          event: { _tag, now: 3100, trial: true, generation: GEN },
          expected: halfOpen(GEN + 1, 2000, 0, 2, 3000)
        })
      ),
      {
        name: "at permitsExpireAt + Admitted trial of the expired generation → ignored, the slots freed",
        state: held,
        event: { _tag: "Admitted", now: 3000, trial: true, generation: GEN },
        expected: halfOpen(GEN + 1, 2000, 0, 1, 3000)
      },
      {
        name: "at permitsExpireAt + Admitted trial of the new generation → one trial, its permit expiring 500 ms later",
        state: held,
        event: { _tag: "Admitted", now: 3000, trial: true, generation: GEN + 1 },
        expected: halfOpen(GEN + 1, 2000, 1, 1, 3500)
      },
      {
        name: "Admitted trial before expiry → the latest admission sets permitsExpireAt for every permit",
        state: halfOpen(GEN, 2000, 1, 0, 3000),
        event: { _tag: "Admitted", now: 2800, trial: true, generation: GEN },
        expected: halfOpen(GEN, 2000, 2, 0, 3300)
      },
      {
        name: "Open at retryAt + Elapsed → a fresh HalfOpen, its permitsExpireAt at since",
        state: open(GEN, 1000, 2000),
        event: { _tag: "Elapsed", now: 2000 },
        expected: halfOpen(GEN + 1, 2000, 0, 0, 2000)
      },
      {
        name: "at permitsExpireAt + Tripped → Open, one generation past the expiry",
        state: held,
        event: { _tag: "Tripped", now: 3000 },
        expected: open(GEN + 2, 3000, 4000)
      }
    ]

    it.each(rows)("$name", ({ event, expected, state }) => {
      expect(CircuitBreakerState.transition(ttlPolicy, state, event)).toStrictEqual(expected)
    })

    it("without a trialPermitTtl, permits never expire", () => {
      expect(CircuitBreakerState.advance(policy, held, Number.MAX_SAFE_INTEGER)).toBe(held)
      expect(CircuitBreakerState.decide(policy, held, 99_999)).toStrictEqual({ _tag: "Reject", retryAfter: 1000 })
      const late: CircuitEvent = { _tag: "Succeeded", now: 99_999, trial: true, generation: GEN }
      expect(CircuitBreakerState.transition(policy, nearlyClosed, late)).toStrictEqual(closed(GEN + 1, 0, 99_999))
    })

    it("advance returns the very state when nothing expires", () => {
      expect(CircuitBreakerState.advance(ttlPolicy, held, 2999)).toBe(held)
      const idle = halfOpen(GEN, 2000, 0, 1, 3000)
      expect(CircuitBreakerState.advance(ttlPolicy, idle, 99_999)).toBe(idle)
    })

    it.each([
      { name: "well before expiry → Reject until the permits expire", now: 2800, expected: 200 },
      { name: "one ms before expiry → Reject with 1", now: 2999, expected: 1 }
    ])("decide, full slots, $name", ({ expected, now }) => {
      expect(CircuitBreakerState.decide(ttlPolicy, held, now)).toStrictEqual({ _tag: "Reject", retryAfter: expected })
    })

    it("decide, full slots whose permits outlast resetTimeout → Reject with resetTimeout", () => {
      const state = halfOpen(GEN, 2000, 2, 1, 4500)
      expect(CircuitBreakerState.decide(ttlPolicy, state, 3000)).toStrictEqual({ _tag: "Reject", retryAfter: 1000 })
    })

    it.each([3000, 3001, 99_999])(
      "decide and admit at %d, full slots expired → AdmitTrial in a new generation",
      (now) => {
        expect(CircuitBreakerState.decide(ttlPolicy, held, now)).toStrictEqual({
          _tag: "AdmitTrial",
          generation: GEN + 1
        })
        expect(CircuitBreakerState.admit(ttlPolicy, held, now)).toStrictEqual([
          { _tag: "AdmitTrial", generation: GEN + 1 },
          halfOpen(GEN + 1, 2000, 1, 1, now + 500)
        ])
      }
    )

    it("admit from Open at retryAt → the trial's permit expires trialPermitTtl later", () => {
      expect(CircuitBreakerState.admit(ttlPolicy, open(GEN, 1000, 2000), 2000)).toStrictEqual([
        { _tag: "AdmitTrial", generation: GEN + 1 },
        halfOpen(GEN + 1, 2000, 1, 0, 2500)
      ])
    })

    it("dead holders: every slot taken and never given back, the circuit admits a trial again after the TTL", () => {
      let state: CircuitState = open(GEN, 1000, 2000)
      for (let i = 0; i < 3; i++) state = CircuitBreakerState.admit(ttlPolicy, state, 2000 + i)[1]
      expect(state).toStrictEqual(halfOpen(GEN + 1, 2000, 3, 0, 2502))
      expect(CircuitBreakerState.admit(ttlPolicy, state, 2501)[0]._tag).toBe("Reject")
      // Three live trials after the expiry close the circuit; the dead holders' late reports change nothing.
      const tickets: Array<CircuitBreakerState.Ticket> = []
      for (let i = 0; i < 3; i++) {
        const [decision, next] = CircuitBreakerState.admit(ttlPolicy, state, 2502)
        tickets.push(CircuitBreakerState.ticketOf(decision)!)
        state = next
      }
      expect(tickets).toStrictEqual(Array.from({ length: 3 }, () => ({ generation: GEN + 2, trial: true })))
      const dead: CircuitEvent = { _tag: "Failed", now: 2600, trial: true, generation: GEN + 1 }
      expect(CircuitBreakerState.transition(ttlPolicy, state, dead)).toBe(state)
      for (const ticket of tickets) {
        state = CircuitBreakerState.transition(ttlPolicy, state, { _tag: "Succeeded", now: 2700, ...ticket })
      }
      expect(state).toStrictEqual(closed(GEN + 3, 0, 2700))
    })
  })
})

describe("TripRule.consecutiveFailures", () => {
  it.each([
    { threshold: 0, shown: "0" },
    { threshold: -1, shown: "-1" },
    { threshold: 1.5, shown: "1.5" },
    { threshold: Number.NaN, shown: "NaN" },
    { threshold: Number.POSITIVE_INFINITY, shown: "Infinity" }
  ])("rejects $shown with a RangeError naming the value", ({ shown, threshold }) => {
    let error: unknown
    try {
      TripRule.consecutiveFailures(threshold)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(RangeError)
    expect((error as RangeError).message).toMatch(new RegExp(`got ${shown.replace(/[.]/g, "\\.")}$`))
  })

  it.each([1, 2, 10])("accepts %d and trips after exactly that many consecutive failures", (threshold) => {
    const rule = TripRule.consecutiveFailures(threshold)
    expect(rule.name).toBe(`consecutiveFailures(${threshold})`)
    let tally = rule.initial
    for (let i = 1; i < threshold; i++) {
      tally = rule.onFailure(tally, i)
      expect(rule.shouldTrip(tally)).toBe(false)
    }
    expect(rule.shouldTrip(rule.onFailure(tally, threshold))).toBe(true)
    expect(rule.failureCount(rule.onSuccess(rule.onFailure(tally, 0), 0))).toBe(0)
  })
})
