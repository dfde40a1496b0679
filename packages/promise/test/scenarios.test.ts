/**
 * One table of scenarios, run through both APIs (the Effect executor of the core, and the
 * Promise API): each must end in the same states, metrics, outcome events and state changes,
 * as the table says. Both executors drive the same call policy; this is where a drift shows.
 */
import { CircuitBreaker } from "@circuit-breaker/core"
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { vi } from "vitest"
import { createAdvancedCircuitBreaker, type IsolationHandle } from "../src/index.js"

type Step =
  | "ok"
  | "fail"
  /** An error `isFailure` answers false for. */
  | "excluded"
  /** An error `isFailure` answers "ignore" for. */
  | "ignored"
  | "trip"
  | "isolate"
  /** Releases the oldest isolation handle still held. */
  | "release"
  | "reset"
  | { readonly wait: number }

type StateName = "CLOSED" | "OPEN" | "HALF_OPEN"

interface Observed {
  /** The state after each step. */
  readonly states: ReadonlyArray<StateName>
  readonly metrics: {
    readonly totalCalls: number
    readonly successCalls: number
    readonly failureCalls: number
    readonly rejectedCalls: number
    readonly ignoredCalls: number
  }
  readonly events: ReadonlyArray<string>
  /** `from>to`, with the reason of a manual change after a colon. */
  readonly changes: ReadonlyArray<string>
}

interface Scenario extends Observed {
  readonly name: string
  readonly steps: ReadonlyArray<Step>
  readonly successThreshold?: number
}

const failure = { status: 500 }
const excluded = { status: 400 }
const ignored = { status: 404 }
const errorOf = (step: Step) => (step === "excluded" ? excluded : step === "ignored" ? ignored : failure)
const isFailure = (error: { readonly status: number }) => (error.status === 404 ? "ignore" : error.status >= 500)

const options = (scenario: Scenario) => ({
  failureThreshold: 2,
  resetTimeout: 1000,
  successThreshold: scenario.successThreshold ?? 1,
  maxRetries: 0,
  timeout: false as const,
  isFailure
})

const scenarios: ReadonlyArray<Scenario> = [
  {
    name: "an excluded error counts as a success: it ends a run of failures",
    steps: ["fail", "excluded", "fail", "ok"],
    states: ["CLOSED", "CLOSED", "CLOSED", "CLOSED"],
    metrics: { totalCalls: 4, successCalls: 2, failureCalls: 2, rejectedCalls: 0, ignoredCalls: 0 },
    events: ["failure", "success", "failure", "success"],
    changes: []
  },
  {
    name: '"ignore" counts neither way: the tally stays, so the next failure trips',
    steps: ["fail", "ignored", "fail", "ok"],
    states: ["CLOSED", "CLOSED", "OPEN", "OPEN"],
    metrics: { totalCalls: 4, successCalls: 0, failureCalls: 3, rejectedCalls: 1, ignoredCalls: 1 },
    events: ["failure", "ignored", "failure", "rejected"],
    changes: ["CLOSED>OPEN"]
  },
  {
    name: "trip opens for resetTimeout; one probe closes",
    steps: ["trip", "ok", { wait: 1000 }, "ok"],
    states: ["OPEN", "OPEN", "HALF_OPEN", "CLOSED"],
    metrics: { totalCalls: 2, successCalls: 1, failureCalls: 1, rejectedCalls: 1, ignoredCalls: 0 },
    events: ["rejected", "success"],
    changes: ["CLOSED>OPEN:trip", "OPEN>HALF_OPEN", "HALF_OPEN>CLOSED"]
  },
  {
    name: "isolations stack, outlast resetTimeout and a trip; the last release closes",
    steps: ["isolate", "isolate", { wait: 5000 }, "trip", "ok", "release", "ok", "release", "ok"],
    states: ["OPEN", "OPEN", "OPEN", "OPEN", "OPEN", "OPEN", "OPEN", "CLOSED", "CLOSED"],
    metrics: { totalCalls: 3, successCalls: 1, failureCalls: 2, rejectedCalls: 2, ignoredCalls: 0 },
    events: ["rejected", "rejected", "success"],
    changes: ["CLOSED>OPEN:isolate", "OPEN>CLOSED:release"]
  },
  {
    name: "reset is announced every time, from CLOSED too, and ends an isolation",
    steps: ["reset", "isolate", "reset", "fail"],
    states: ["CLOSED", "OPEN", "CLOSED", "CLOSED"],
    metrics: { totalCalls: 1, successCalls: 0, failureCalls: 1, rejectedCalls: 0, ignoredCalls: 0 },
    events: ["failure"],
    changes: ["CLOSED>CLOSED:reset", "CLOSED>OPEN:isolate", "OPEN>CLOSED:reset"]
  },
  {
    name: "a failed probe reopens; two successes close with successThreshold 2",
    successThreshold: 2,
    steps: ["fail", "fail", { wait: 1000 }, "fail", { wait: 1000 }, "ok", "ok"],
    states: ["CLOSED", "OPEN", "HALF_OPEN", "OPEN", "HALF_OPEN", "HALF_OPEN", "CLOSED"],
    metrics: { totalCalls: 5, successCalls: 2, failureCalls: 3, rejectedCalls: 0, ignoredCalls: 0 },
    events: ["failure", "failure", "failure", "success", "success"],
    changes: ["CLOSED>OPEN", "OPEN>HALF_OPEN", "HALF_OPEN>OPEN", "OPEN>HALF_OPEN", "HALF_OPEN>CLOSED"]
  }
]

const effectNames = { Closed: "CLOSED", Open: "OPEN", HalfOpen: "HALF_OPEN" } as const
const effectEvents = {
  Success: "success",
  Failure: "failure",
  Timeout: "timeout",
  Ignored: "ignored",
  Rejected: "rejected",
  Retry: "retry"
} as const

const pickMetrics = (m: Observed["metrics"]): Observed["metrics"] => ({
  totalCalls: m.totalCalls,
  successCalls: m.successCalls,
  failureCalls: m.failureCalls,
  rejectedCalls: m.rejectedCalls,
  ignoredCalls: m.ignoredCalls
})

const change = (from: string, to: string, reason: string | undefined) => `${from}>${to}${reason ? `:${reason}` : ""}`

const settle = Effect.repeatN(Effect.yieldNow(), 50)

const runEffect = (scenario: Scenario) =>
  Effect.gen(function* () {
    const breaker = yield* CircuitBreaker.make({ name: `effect-${scenario.name}`, ...options(scenario) })
    const events: Array<string> = []
    const changes: Array<string> = []
    const listeners = yield* Effect.fork(
      Effect.all(
        [
          Stream.runForEach(breaker.events, (e) => Effect.sync(() => events.push(effectEvents[e._tag]))),
          Stream.runForEach(breaker.changes, (c) =>
            Effect.sync(() => changes.push(change(effectNames[c.from], effectNames[c.to], c.reason)))
          )
        ],
        { concurrency: "unbounded" }
      )
    )
    yield* settle
    const handles: Array<CircuitBreaker.Isolation> = []
    const states: Array<StateName> = []
    for (const step of scenario.steps) {
      if (typeof step === "object") yield* TestClock.adjust(step.wait)
      else if (step === "trip") yield* breaker.trip
      else if (step === "reset") yield* breaker.reset
      else if (step === "isolate") handles.push(yield* breaker.isolate)
      else if (step === "release") yield* handles.shift()!.release
      else yield* Effect.exit(breaker.execute(step === "ok" ? Effect.succeed(1) : Effect.fail(errorOf(step))))
      states.push(effectNames[(yield* breaker.state)._tag])
      yield* settle
    }
    const metrics = pickMetrics(yield* breaker.metrics)
    yield* Fiber.interrupt(listeners)
    return { states, metrics, events, changes } satisfies Observed
  })

const runPromise = async (scenario: Scenario): Promise<Observed> => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] })
  let step: Step = "ok"
  const breaker = createAdvancedCircuitBreaker(
    () => (step === "ok" ? Promise.resolve(1) : Promise.reject(errorOf(step))),
    { name: `promise-${scenario.name}`, ...options(scenario) }
  )
  const events: Array<string> = []
  const changes: Array<string> = []
  breaker.onCallOutcome((e) => events.push(e.outcome))
  breaker.onStateChange((c) => changes.push(change(c.from, c.to, c.reason)))
  const handles: Array<IsolationHandle> = []
  const states: Array<StateName> = []
  for (const s of scenario.steps) {
    step = s
    if (typeof s === "object") vi.advanceTimersByTime(s.wait)
    else if (s === "trip") await breaker.trip()
    else if (s === "reset") await breaker.reset()
    else if (s === "isolate") handles.push(breaker.isolate())
    else if (s === "release") handles.shift()!.release()
    else await breaker.execute().catch(() => undefined)
    states.push(breaker.getState())
  }
  const metrics = pickMetrics(breaker.getMetrics())
  await breaker.dispose()
  return { states, metrics, events, changes }
}

const expected = ({ changes, events, metrics, states }: Scenario): Observed => ({ states, metrics, events, changes })

describe("the scenario table, through both APIs", () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  for (const scenario of scenarios) {
    it.effect(`Effect: ${scenario.name}`, () =>
      Effect.map(runEffect(scenario), (observed) => expect(observed).toStrictEqual(expected(scenario)))
    )
    it(`Promise: ${scenario.name}`, async () => {
      expect(await runPromise(scenario)).toStrictEqual(expected(scenario))
    })
  }
})
