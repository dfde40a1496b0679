import { describe, expect, it } from "@effect/vitest"
import * as CallPolicy from "../src/CallPolicy.js"
import { CircuitBreakerConfigError } from "../src/CircuitBreakerError.js"
import type * as CircuitBreakerState from "../src/CircuitBreakerState.js"

const everyError: CallPolicy.CallPolicy = { isFailure: undefined }
const byStatus: CallPolicy.CallPolicy = {
  isFailure: (error: { status: number }) => (error.status === 404 ? "ignore" : error.status >= 500)
}

const closed: CircuitBreakerState.CircuitState<number> = { _tag: "Closed", generation: 1, since: 0, tally: 0 }
const opened: CircuitBreakerState.CircuitState<number> = {
  _tag: "Open",
  generation: 2,
  since: 0,
  openedAt: 0,
  retryAt: 10
}

const recorder = () => {
  const calls: Array<string> = []
  const r: CallPolicy.EndingRecorder = {
    success: (latency) => calls.push(`success ${latency}`),
    failure: (latency, timedOut) => calls.push(`failure ${latency} ${timedOut}`),
    ignored: () => calls.push("ignored"),
    rejected: () => calls.push("rejected")
  }
  return { calls, r }
}

describe("CallPolicy", () => {
  it("a success is a success: Succeeded, reported, final", () => {
    const outcome = CallPolicy.succeeded(everyError, 1, 5, [])
    expect(outcome).toMatchObject({ verdict: "success", event: "Succeeded", report: "success", retryable: false })
    expect(CallPolicy.isFinal(outcome, closed)).toBe(true)
    expect(CallPolicy.ending(outcome)).toBe("success")
  })

  it("without isFailure every error is a retryable failure, final once the circuit is Open", () => {
    const outcome = CallPolicy.failed(everyError, new Error("x"), 5, [])
    expect(outcome).toMatchObject({ verdict: "failure", event: "Failed", report: "failure", retryable: true })
    expect(CallPolicy.isFinal(outcome, closed)).toBe(false)
    expect(CallPolicy.isFinal(outcome, opened)).toBe(true)
    expect(CallPolicy.ending(outcome)).toBe("failure")
  })

  it("an error isFailure excludes counts as a success in the state machine, the events and the metrics", () => {
    const outcome = CallPolicy.failed(byStatus, { status: 400 }, 5, [])
    expect(outcome).toMatchObject({ verdict: "success", event: "Succeeded", report: "success", retryable: false })
    expect(CallPolicy.ending(outcome)).toBe("success")
  })

  it('"ignore" counts neither way: Interrupted (the tally stays, a trial slot comes back), reported as ignored', () => {
    const outcome = CallPolicy.failed(byStatus, { status: 404 }, 5, [])
    expect(outcome).toMatchObject({ verdict: "ignored", event: "Interrupted", report: "ignored", retryable: false })
    expect(CallPolicy.ending(outcome)).toBe("ignored")
  })

  it("isFailure receives the error and then the call's arguments", () => {
    const seen: Array<ReadonlyArray<unknown>> = []
    const policy: CallPolicy.CallPolicy = {
      isFailure: (error, ...args) => {
        seen.push([error, ...args])
        return true
      }
    }
    CallPolicy.failed(policy, "e", 1, [1, "two"])
    CallPolicy.failed(policy, "f", 1, [])
    expect(seen).toStrictEqual([["e", 1, "two"], ["f"]])
  })

  it("an isFailure that throws counts the error as a failure", () => {
    const policy: CallPolicy.CallPolicy = {
      isFailure: () => {
        throw new Error("bug")
      }
    }
    expect(CallPolicy.failed(policy, "e", 1, []).verdict).toBe("failure")
  })

  it.each([undefined, 1, "yes", null, {}])(
    "an answer of %s is a typed error naming isFailure, counted neither way",
    (answer) => {
      const outcome = CallPolicy.failed({ isFailure: () => answer as never }, "e", 1, [])
      expect(outcome.invalid).toBeInstanceOf(CircuitBreakerConfigError)
      expect(outcome.invalid?.option).toBe("isFailure")
      expect(outcome.event).toBe("Interrupted")
      expect(outcome.report).toBeUndefined()
      expect(CallPolicy.ending(outcome)).toBe("none")
    }
  )

  it("a defect is a failure that is never retried; a timeout is a retryable failure reported as timeout", () => {
    const defect = CallPolicy.defect(everyError, new Error("bug"), 1)
    expect(defect).toMatchObject({ verdict: "failure", retryable: false })
    expect(CallPolicy.isFinal(defect, closed)).toBe(true)
    const timeout = CallPolicy.timedOut(everyError, 50)
    expect(timeout).toMatchObject({ verdict: "failure", event: "TimedOut", report: "timeout", retryable: true })
    expect(CallPolicy.ending(timeout)).toBe("timeout")
  })

  it("a cancelled call counts neither way and reports nothing", () => {
    expect(CallPolicy.cancelled).toMatchObject({ verdict: "cancelled", event: "Interrupted", report: undefined })
    expect(CallPolicy.ending(CallPolicy.cancelled)).toBe("none")
    expect(CallPolicy.isFinal(CallPolicy.cancelled, closed)).toBe(true)
  })

  it("a rejection: on the first attempt a rejection; during retries the last attempt's ending", () => {
    expect(CallPolicy.onRejected(undefined)).toBe("rejected")
    expect(CallPolicy.onRejected(CallPolicy.failed(everyError, "e", 1, []))).toBe("failure")
    expect(CallPolicy.onRejected(CallPolicy.timedOut(everyError, 1))).toBe("timeout")
  })

  it("stateEvent carries the ticket and the time", () => {
    const event = CallPolicy.stateEvent(CallPolicy.timedOut(everyError, 1), { generation: 4, trial: true }, 99)
    expect(event).toStrictEqual({ _tag: "TimedOut", now: 99, generation: 4, trial: true })
  })

  it("record applies each ending to a recorder once, and nothing for none", () => {
    const { calls, r } = recorder()
    for (const ending of ["success", "failure", "timeout", "ignored", "rejected", "none"] as const) {
      CallPolicy.record(r, ending, 7)
    }
    CallPolicy.record(undefined, "success", 1)
    expect(calls).toStrictEqual(["success 7", "failure 7 false", "failure 7 true", "ignored", "rejected"])
  })

  it("classifying allocates nothing: the same outcome object each time", () => {
    expect(CallPolicy.succeeded(everyError, 1, 1, [])).toBe(CallPolicy.succeeded(everyError, 2, 3, []))
    expect(CallPolicy.failed(everyError, "a", 1, [])).toBe(CallPolicy.failed(everyError, "b", 2, []))
  })
})
