/**
 * What users of opossum, cockatiel and Resilience4j rely on, in the Promise API: the call's
 * arguments as given, isFailure(error, ...args) and "ignore", outcome events with latency and
 * arguments, isolate() and trip(), reset events, and one error family with the core.
 */
import { promisify } from "node:util"
import { CircuitBreakerError } from "@circuit-breaker/core"
import { afterEach, describe, expect, it } from "@effect/vitest"
import { vi } from "vitest"
import {
  type CallContext,
  type CallOutcomeEvent,
  CircuitBreakerConfigError,
  CircuitBreakerDisposedError,
  CircuitOpenError,
  CircuitTimeoutError,
  createAdvancedCircuitBreaker
} from "../src/index.js"

const rejectionOf = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => {
      throw new Error("expected a rejection")
    },
    (error: unknown) => error
  )

afterEach(() => {
  vi.useRealTimers()
})

describe("the function gets exactly the caller's arguments", () => {
  it("a callback-style function made a promise with util.promisify works", async () => {
    const add = promisify((x: number, y: number, cb: (error: Error | null, sum?: number) => void) => cb(null, x + y))
    const breaker = createAdvancedCircuitBreaker(add, { name: "promisified" })
    await expect(breaker.execute(3, 4)).resolves.toBe(7)
  })

  it("an optional parameter stays undefined, and `this` is undefined", async () => {
    let seen: { args: Array<unknown>; self: unknown } | undefined
    const breaker = createAdvancedCircuitBreaker(
      function (this: unknown, ...args: [order: string, options?: { readonly express: boolean }]) {
        seen = { args, self: this }
        const [order, options] = args
        return Promise.resolve(`${order}:${options?.express ?? "standard"}`)
      },
      { name: "optional" }
    )
    await expect(breaker.execute("o-1")).resolves.toBe("o-1:standard")
    expect(seen).toStrictEqual({ args: ["o-1"], self: undefined })
  })

  it("passContext: true appends the CallContext after the arguments", async () => {
    const seen: Array<unknown> = []
    const breaker = createAdvancedCircuitBreaker(
      (id: string, ctx: CallContext) => {
        seen.push(id, ctx.attempt, ctx.signal instanceof AbortSignal)
        return id
      },
      { name: "with-context", passContext: true }
    )
    await expect(breaker.execute("a")).resolves.toBe("a")
    expect(seen).toStrictEqual(["a", 1, true])
  })

  it("passContext must be a boolean", () => {
    const error = (() => {
      try {
        createAdvancedCircuitBreaker(() => 1, { passContext: "yes" as never })
      } catch (e) {
        return e
      }
      return undefined
    })()
    expect(error).toBeInstanceOf(CircuitBreakerConfigError)
    expect((error as CircuitBreakerConfigError).option).toBe("passContext")
  })
})

describe("isFailure", () => {
  it("receives the error and the call's arguments", async () => {
    const seen: Array<unknown> = []
    const boom = new Error("boom")
    const breaker = createAdvancedCircuitBreaker((_a: number, _b: string) => Promise.reject(boom), {
      name: "is-failure-args",
      maxRetries: 0,
      isFailure: (error, ...args) => {
        seen.push(error, ...args)
        return true
      }
    })
    await rejectionOf(breaker.execute(1, "b"))
    expect(seen).toStrictEqual([boom, 1, "b"])
  })

  it("an excluded error counts as a success in metrics and events, and the call rejects with it", async () => {
    const e404 = Object.assign(new Error("not found"), { status: 404 })
    const events: Array<CallOutcomeEvent> = []
    const breaker = createAdvancedCircuitBreaker(
      async () => {
        throw e404
      },
      { name: "excluded", maxRetries: 0, isFailure: (e) => e.status >= 500 }
    )
    breaker.onCallOutcome((e) => events.push(e))
    expect(await rejectionOf(breaker.execute())).toBe(e404)
    expect(breaker.getState()).toBe("CLOSED")
    expect(breaker.getMetrics()).toMatchObject({ successCalls: 1, failureCalls: 0, lastFailures: [] })
    expect(events).toMatchObject([{ outcome: "success", error: e404 }])
  })

  it('"ignore" counts neither way: ignoredCalls, an ignored event, no lastFailures, no retry, and the tally stays', async () => {
    let status = 500
    let attempts = 0
    const events: Array<string> = []
    const breaker = createAdvancedCircuitBreaker(
      () => {
        attempts++
        return Promise.reject({ status })
      },
      {
        name: "ignored",
        maxRetries: 1,
        retryDelay: 0,
        jitter: false,
        failureThreshold: 3,
        isFailure: (e) => (e.status === 404 ? "ignore" : true)
      }
    )
    breaker.onCallOutcome((e) => events.push(e.outcome))
    await rejectionOf(breaker.execute()) // two failed attempts: the tally is 2
    status = 404
    attempts = 0
    await rejectionOf(breaker.execute())
    expect(attempts).toBe(1) // never retried
    expect(breaker.getState()).toBe("CLOSED")
    expect(breaker.getMetrics()).toMatchObject({ ignoredCalls: 1, failureCalls: 1, successCalls: 0, totalCalls: 2 })
    expect(breaker.getMetrics().lastFailures).toHaveLength(2)
    expect(events).toStrictEqual(["failure", "retry", "failure", "ignored"])
    // The tally stayed at 2 (a success would have cleared it): the next failed attempt trips.
    status = 500
    await rejectionOf(breaker.execute())
    expect(breaker.getState()).toBe("OPEN")
  })

  it("an answer that is neither a boolean nor 'ignore' rejects with a config error naming isFailure, counting nothing", async () => {
    const breaker = createAdvancedCircuitBreaker(() => Promise.reject(new Error("x")), {
      name: "bad-answer",
      maxRetries: 2,
      failureThreshold: 1,
      isFailure: () => "yes" as never
    })
    const error = await rejectionOf(breaker.execute())
    expect(error).toBeInstanceOf(CircuitBreakerConfigError)
    expect((error as CircuitBreakerConfigError).option).toBe("isFailure")
    expect(breaker.getState()).toBe("CLOSED")
    expect(breaker.getMetrics()).toMatchObject({ totalCalls: 0, lastFailures: [] })
  })
})

describe("outcome events", () => {
  it("carry the latency and the arguments; failures and timeouts carry the error", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] })
    const events: Array<CallOutcomeEvent> = []
    let mode: "ok" | "fail" | "hang" = "ok"
    const boom = new Error("boom")
    const breaker = createAdvancedCircuitBreaker(
      (x: number) =>
        mode === "hang"
          ? new Promise<number>(() => {})
          : new Promise<number>((resolve, reject) => setTimeout(() => (mode === "ok" ? resolve(x) : reject(boom)), 25)),
      { name: "events", maxRetries: 0, timeout: 100, failureThreshold: 10 }
    )
    breaker.onCallOutcome((e) => events.push(e))
    const ok = breaker.execute(1)
    await vi.advanceTimersByTimeAsync(25)
    await ok
    mode = "fail"
    const failed = rejectionOf(breaker.execute(2))
    await vi.advanceTimersByTimeAsync(25)
    await failed
    mode = "hang"
    const timedOut = rejectionOf(breaker.execute(3))
    await vi.advanceTimersByTimeAsync(100)
    expect(await timedOut).toBeInstanceOf(CircuitTimeoutError)
    expect(events).toMatchObject([
      { outcome: "success", args: [1], latency: 25, attempt: 1 },
      { outcome: "failure", args: [2], latency: 25, error: boom },
      { outcome: "timeout", args: [3], latency: 100, error: expect.any(CircuitTimeoutError) }
    ])
    expect(events[0]).not.toHaveProperty("error")
  })
})

describe("a cancelled call", () => {
  it("counts neither way even when fn throws after the abort: no lastFailures, the tally unchanged", async () => {
    const controller = new AbortController()
    let reject!: (error: unknown) => void
    const breaker = createAdvancedCircuitBreaker(
      (ctx: CallContext) =>
        new Promise((_, r) => {
          reject = r
          void ctx
        }),
      { name: "cancelled", failureThreshold: 1, maxRetries: 0, timeout: false, passContext: true }
    )
    const call = rejectionOf(breaker.executeWith({ signal: controller.signal }))
    controller.abort(new Error("caller gave up"))
    reject(new Error("fn failed as it was cancelled"))
    await call
    expect(breaker.getState()).toBe("CLOSED")
    expect(breaker.getMetrics()).toMatchObject({ failureCalls: 0, successCalls: 0, lastFailures: [] })
  })
})

describe("trip() and isolate()", () => {
  it("trip() opens for resetTimeout, then half-opens", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] })
    const breaker = createAdvancedCircuitBreaker(() => 1, { name: "trip", resetTimeout: 1000 })
    await breaker.trip()
    expect(breaker.getState()).toBe("OPEN")
    expect(await rejectionOf(breaker.execute())).toBeInstanceOf(CircuitOpenError)
    vi.advanceTimersByTime(1000)
    expect(breaker.getState()).toBe("HALF_OPEN")
  })

  it("isolate() holds OPEN until every handle is released; a handle released twice counts once", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] })
    const breaker = createAdvancedCircuitBreaker(() => 1, { name: "isolate", resetTimeout: 10 })
    const first = breaker.isolate()
    const second = breaker.isolate()
    vi.advanceTimersByTime(60_000)
    expect(breaker.getState()).toBe("OPEN")
    first.release()
    first.release()
    expect(breaker.getState()).toBe("OPEN")
    second[Symbol.dispose]()
    expect(breaker.getState()).toBe("CLOSED")
  })

  it("isolate() after dispose() throws CircuitBreakerDisposedError", async () => {
    const breaker = createAdvancedCircuitBreaker(() => 1, { name: "disposed" })
    await breaker.dispose()
    expect(() => breaker.isolate()).toThrow(CircuitBreakerDisposedError)
  })

  it("reset() publishes a reset every time, from CLOSED to CLOSED included", async () => {
    const breaker = createAdvancedCircuitBreaker(() => 1, { name: "reset" })
    const changes: Array<unknown> = []
    breaker.onStateChange((c) => changes.push(c))
    await breaker.reset()
    expect(changes).toMatchObject([{ from: "CLOSED", to: "CLOSED", reason: "reset" }])
  })
})

describe("the details", () => {
  it("CircuitOpenError: whole milliseconds in retryAfter and the message; one error family with the core", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] })
    const breaker = createAdvancedCircuitBreaker(() => Promise.reject(new Error("down")), {
      name: "whole-ms",
      failureThreshold: 1,
      maxRetries: 0,
      resetTimeout: 1000
    })
    await rejectionOf(breaker.execute())
    vi.advanceTimersByTime(8.3)
    const error = (await rejectionOf(breaker.execute())) as CircuitOpenError
    expect(error.retryAfter).toBe(992)
    expect(error.message).toBe('Circuit "whole-ms" is open; retry after 992 ms')
    expect(CircuitBreakerError.isCircuitBreakerError(error)).toBe(true)
    expect(CircuitBreakerError.isCircuitOpenError(error)).toBe(true)
    expect(CircuitBreakerError.isCircuitTimeoutError(error)).toBe(false)
    expect(CircuitBreakerError.isCircuitTimeoutError(new CircuitTimeoutError("c", 10, 1))).toBe(true)
    expect(CircuitBreakerError.isCircuitBreakerError(new CircuitBreakerDisposedError("c"))).toBe(true)
    expect(CircuitBreakerError.isCircuitBreakerError(new Error("x"))).toBe(false)
  })

  it("an unnamed breaker takes its function's name, or a distinct generated one", () => {
    function fetchUser() {
      return 1
    }
    expect(createAdvancedCircuitBreaker(fetchUser).name).toBe("fetchUser")
    const a = createAdvancedCircuitBreaker(() => 1).name
    const b = createAdvancedCircuitBreaker(() => 2).name
    expect(a).not.toBe(b)
  })

  it("distributedTracking without a name is a config error naming name", () => {
    const error = (() => {
      try {
        createAdvancedCircuitBreaker(function named() {}, { distributedTracking: true, redis: "redis://127.0.0.1:1" })
      } catch (e) {
        return e
      }
      return undefined
    })()
    expect(error).toBeInstanceOf(CircuitBreakerConfigError)
    expect((error as CircuitBreakerConfigError).option).toBe("name")
  })

  it("maxConcurrentTrials: 0 is a config error naming it", () => {
    expect(() => createAdvancedCircuitBreaker(() => 1, { maxConcurrentTrials: 0 })).toThrow(/maxConcurrentTrials/)
  })
})
