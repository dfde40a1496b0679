import * as Schedule from "effect/Schedule"
import { afterEach, describe, expect, it, vi } from "vitest"
import {
  BulkheadRejectedError,
  type CallOutcomeEvent,
  CircuitBreakerConfigError,
  CircuitBreakerDisposedError,
  CircuitOpenError,
  createAdvancedCircuitBreaker
} from "../src/index.js"

/** Fake setTimeout/clearTimeout and performance (the breaker's clock) together. */
const useFakeClock = () => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] })

afterEach(() => {
  vi.useRealTimers()
})

const boom = () => Promise.reject(new Error("boom"))
const ok = () => Promise.resolve("ok")
const swallow = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (error: unknown) => error
  )

describe("failure rate over a sliding window", () => {
  it("trips once the window's failure rate reaches the threshold, not on consecutive failures below the minimum", async () => {
    let fail = true
    const breaker = createAdvancedCircuitBreaker(() => (fail ? boom() : ok()), {
      failureRateThreshold: 50,
      slidingWindowSize: 10,
      minimumNumberOfCalls: 10,
      maxRetries: 0
    })
    for (let i = 0; i < 9; i++) await swallow(breaker.execute())
    expect(breaker.getState()).toBe("CLOSED")
    expect(breaker.getMetrics().failureRate).toBe(-1)
    fail = false
    await breaker.execute()
    expect(breaker.getState()).toBe("OPEN")
    await breaker.dispose()
  })

  it("reports the failure rate once minimumNumberOfCalls calls are in the window", async () => {
    let n = 0
    const breaker = createAdvancedCircuitBreaker(() => (n++ % 4 === 0 ? boom() : ok()), {
      failureRateThreshold: 50,
      slidingWindowSize: 4,
      minimumNumberOfCalls: 4,
      maxRetries: 0
    })
    for (let i = 0; i < 4; i++) await swallow(breaker.execute())
    expect(breaker.getState()).toBe("CLOSED")
    expect(breaker.getMetrics().failureRate).toBe(25)
    await breaker.dispose()
  })
})

describe("slow calls", () => {
  it("slow successes trip the circuit and are counted", async () => {
    useFakeClock()
    const slow = () => new Promise((resolve) => setTimeout(() => resolve("late"), 150))
    const breaker = createAdvancedCircuitBreaker(slow, {
      slowCallDurationThreshold: 100,
      slowCallRateThreshold: 50,
      slidingWindowSize: 2,
      minimumNumberOfCalls: 2,
      maxRetries: 0,
      timeout: false
    })
    for (let i = 0; i < 2; i++) {
      const call = breaker.execute()
      await vi.advanceTimersByTimeAsync(150)
      expect(await call).toBe("late")
    }
    expect(breaker.getState()).toBe("OPEN")
    expect(breaker.getMetrics().slowCalls).toBe(2)
    await breaker.dispose()
  })
})

describe("isResultFailure", () => {
  it("counts a value as a failure and still returns it", async () => {
    const response = { status: 503 }
    const breaker = createAdvancedCircuitBreaker(() => Promise.resolve(response), {
      isResultFailure: (r: { status: number }) => r.status >= 500,
      failureThreshold: 2,
      maxRetries: 0
    })
    expect(await breaker.execute()).toBe(response)
    expect(await breaker.execute()).toBe(response)
    expect(breaker.getState()).toBe("OPEN")
    expect(breaker.getMetrics()).toMatchObject({ failureCalls: 2, successCalls: 0 })
    await breaker.dispose()
  })
})

describe("open duration", () => {
  it("retryAfterFromError keeps the circuit open at least as long as the service asked", async () => {
    useFakeClock()
    const breaker = createAdvancedCircuitBreaker(() => Promise.reject({ status: 429, retryAfterMs: 5000 }), {
      failureThreshold: 1,
      resetTimeout: 1000,
      maxRetries: 0,
      retryAfterFromError: (e: { retryAfterMs: number }) => e.retryAfterMs
    })
    await swallow(breaker.execute())
    vi.advanceTimersByTime(4999)
    expect(breaker.getState()).toBe("OPEN")
    vi.advanceTimersByTime(1)
    expect(breaker.getState()).toBe("HALF_OPEN")
    await breaker.dispose()
  })

  it("openBackoff lengthens the open period after each failed trial", async () => {
    useFakeClock()
    const breaker = createAdvancedCircuitBreaker(boom, {
      failureThreshold: 1,
      resetTimeout: 1000,
      maxRetries: 0,
      openBackoff: { multiplier: 2, maxResetTimeout: 10_000 }
    })
    await swallow(breaker.execute())
    vi.advanceTimersByTime(1000)
    expect(breaker.getState()).toBe("HALF_OPEN")
    await swallow(breaker.execute())
    vi.advanceTimersByTime(1999)
    expect(breaker.getState()).toBe("OPEN")
    vi.advanceTimersByTime(1)
    expect(breaker.getState()).toBe("HALF_OPEN")
    await breaker.dispose()
  })

  it("maxWaitInHalfOpen opens a Half-Open circuit whose trial does not finish in time", async () => {
    useFakeClock()
    let hang = false
    const breaker = createAdvancedCircuitBreaker(() => (hang ? new Promise(() => {}) : boom()), {
      failureThreshold: 1,
      resetTimeout: 1000,
      maxRetries: 0,
      timeout: false,
      maxWaitInHalfOpen: 500
    })
    await swallow(breaker.execute())
    vi.advanceTimersByTime(1000)
    hang = true
    const trial = swallow(breaker.execute())
    expect(breaker.getState()).toBe("HALF_OPEN")
    vi.advanceTimersByTime(500)
    expect(breaker.getState()).toBe("OPEN")
    await breaker.dispose()
    // The hanging trial ends with the disposal.
    expect((await trial) as Error).toMatchObject({ _tag: "CircuitBreakerDisposedError" })
  })
})

describe("modes", () => {
  it("forcedOpen rejects every call; getState reads OPEN", async () => {
    const fn = vi.fn(ok)
    const breaker = createAdvancedCircuitBreaker(fn)
    await breaker.setMode("forcedOpen")
    expect(breaker.getMode()).toBe("forcedOpen")
    expect(breaker.getState()).toBe("OPEN")
    expect(await swallow(breaker.execute())).toBeInstanceOf(CircuitOpenError)
    expect(fn).not.toHaveBeenCalled()
    expect(breaker.getMetrics().mode).toBe("forcedOpen")
    await breaker.setMode("normal")
    expect(await breaker.execute()).toBe("ok")
    await breaker.dispose()
  })

  it("forcedClosed records failures but never trips; disabled records nothing", async () => {
    const breaker = createAdvancedCircuitBreaker(boom, { failureThreshold: 1, maxRetries: 0 })
    await breaker.setMode("forcedClosed")
    for (let i = 0; i < 3; i++) await swallow(breaker.execute())
    expect(breaker.getState()).toBe("CLOSED")
    expect(breaker.getMetrics().failureCalls).toBe(3)
    await breaker.setMode("disabled")
    for (let i = 0; i < 3; i++) await swallow(breaker.execute())
    expect(breaker.getState()).toBe("CLOSED")
    expect(breaker.getMetrics().totalCalls).toBe(3)
    await breaker.dispose()
  })

  it("an unknown mode rejects with a CircuitBreakerConfigError naming mode, and changes nothing", async () => {
    const breaker = createAdvancedCircuitBreaker(ok)
    const error = await swallow(breaker.setMode("off" as never))
    expect(error).toBeInstanceOf(CircuitBreakerConfigError)
    expect((error as CircuitBreakerConfigError).option).toBe("mode")
    expect(breaker.getMode()).toBe("normal")
    await breaker.dispose()
  })
})

describe("bulkhead", () => {
  it("rejects a call beyond maxConcurrent with a BulkheadRejectedError that never opens the circuit", async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const breaker = createAdvancedCircuitBreaker(() => gate.then(() => "done"), {
      maxConcurrent: 1,
      failureThreshold: 1,
      maxRetries: 0
    })
    const first = breaker.execute()
    const error = await swallow(breaker.execute())
    expect(error).toBeInstanceOf(BulkheadRejectedError)
    expect((error as BulkheadRejectedError)._tag).toBe("BulkheadRejectedError")
    expect(breaker.getState()).toBe("CLOSED")
    release()
    expect(await first).toBe("done")
    expect(breaker.getMetrics()).toMatchObject({ bulkheadRejections: 1, totalCalls: 1, failureCalls: 0 })
    expect(await breaker.execute()).toBe("done")
    await breaker.dispose()
  })

  it("queues up to maxQueue calls, each at most queueTimeout", async () => {
    useFakeClock()
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const breaker = createAdvancedCircuitBreaker(() => gate.then(() => "done"), {
      maxConcurrent: 1,
      maxQueue: 1,
      queueTimeout: 100
    })
    const first = breaker.execute()
    const queued = swallow(breaker.execute())
    expect(await swallow(breaker.execute())).toBeInstanceOf(BulkheadRejectedError)
    await vi.advanceTimersByTimeAsync(100)
    expect(((await queued) as BulkheadRejectedError).reason).toBe("QueueTimeout")
    release()
    expect(await first).toBe("done")
    await breaker.dispose()
  })

  it("a call gives its slot back however it ends: value, throw, rejection after a retry, timeout, abort", async () => {
    useFakeClock()
    let behaviour: () => unknown = () => "value"
    const breaker = createAdvancedCircuitBreaker(() => behaviour(), {
      maxConcurrent: 1,
      maxRetries: 1,
      retryDelay: 10,
      timeout: 100,
      failureThreshold: 100
    })
    const running = () => breaker.getMetrics().totalCalls
    const endsAndFrees = async (start: () => Promise<unknown>) => {
      const outcome = swallow(start())
      await vi.advanceTimersByTimeAsync(250)
      await outcome
      // The slot is free again: the next call is admitted rather than rejected by the bulkhead.
      behaviour = () => Promise.resolve("next")
      expect(await breaker.execute()).toBe("next")
    }
    await endsAndFrees(() => breaker.execute())
    behaviour = () => {
      throw new Error("sync")
    }
    await endsAndFrees(() => breaker.execute())
    behaviour = () => Promise.reject(new Error("async"))
    await endsAndFrees(() => breaker.execute())
    behaviour = () => new Promise(() => {})
    await endsAndFrees(() => breaker.execute())
    const controller = new AbortController()
    await endsAndFrees(() => {
      const call = breaker.executeWith({ signal: controller.signal })
      controller.abort(new Error("gave up"))
      return call
    })
    expect(running()).toBeGreaterThan(0)
    expect(breaker.getMetrics().bulkheadRejections).toBe(0)
    await breaker.dispose()
  })

  it("dispose() rejects the queued calls at once, with or without a caller's signal, and leaves no timer", async () => {
    useFakeClock()
    const fn = vi.fn(() => new Promise<string>(() => {}))
    const breaker = createAdvancedCircuitBreaker(fn, {
      maxConcurrent: 1,
      maxQueue: 2,
      queueTimeout: 60_000,
      maxRetries: 0
    })
    const running = swallow(breaker.execute())
    const queued = swallow(breaker.execute())
    const queuedWithSignal = swallow(breaker.executeWith({ signal: new AbortController().signal }))
    await breaker.dispose()
    // Settled before any timer runs: the queue timeout is not what ends them.
    const settled = await Promise.race([
      Promise.all([running, queued, queuedWithSignal]),
      new Promise<"pending">((resolve) => setImmediate(() => resolve("pending")))
    ])
    expect(settled).not.toBe("pending")
    for (const error of settled as Array<unknown>) expect(error).toBeInstanceOf(CircuitBreakerDisposedError)
    expect(fn).toHaveBeenCalledTimes(1)
    expect(vi.getTimerCount()).toBe(0)
  })
})

describe("fallback", () => {
  it("answers a rejected call and a call that failed for good, with the error and the call's arguments", async () => {
    const events: Array<CallOutcomeEvent["outcome"]> = []
    const fallback = vi.fn((error: unknown, id: string) => `cached ${id} after ${(error as Error).name}`)
    const breaker = createAdvancedCircuitBreaker((_id: string) => boom(), {
      failureThreshold: 1,
      maxRetries: 0,
      fallback
    })
    breaker.onCallOutcome((e) => events.push(e.outcome))
    expect(await breaker.execute("a")).toBe("cached a after Error")
    expect(await breaker.execute("b")).toBe("cached b after CircuitOpenError")
    expect(fallback).toHaveBeenCalledTimes(2)
    expect(breaker.getMetrics().fallbackCalls).toBe(2)
    expect(events).toEqual(["failure", "fallback", "rejected", "fallback"])
    await breaker.dispose()
  })

  it("a fallback that throws rejects the call with its error; an excluded error gets no fallback", async () => {
    const thrown = new Error("fallback failed")
    const throwing = createAdvancedCircuitBreaker(boom, {
      maxRetries: 0,
      fallback: () => {
        throw thrown
      }
    })
    expect(await swallow(throwing.execute())).toBe(thrown)
    const notFound = new Error("404")
    const excluded = createAdvancedCircuitBreaker(() => Promise.reject(notFound), {
      maxRetries: 0,
      isFailure: () => false,
      fallback: () => "never"
    })
    expect(await swallow(excluded.execute())).toBe(notFound)
    await throwing.dispose()
    await excluded.dispose()
  })

  it("a fallback that is not a function is a CircuitBreakerConfigError naming fallback", () => {
    expect(() => createAdvancedCircuitBreaker(ok, { fallback: "cached" as never })).toThrow(
      expect.objectContaining({ option: "fallback" })
    )
  })
})

describe("option validation", () => {
  it.each([
    [{ failureRateThreshold: 0 }, "failureRateThreshold"],
    [{ failureRateThreshold: 101 }, "failureRateThreshold"],
    [{ slidingWindowSize: 10_001 }, "slidingWindowSize"],
    [{ slidingWindowType: "time" as const, slidingWindowSize: 3_601 }, "slidingWindowSize"],
    [{ slidingWindowSize: 10, minimumNumberOfCalls: 11 }, "minimumNumberOfCalls"],
    [{ maxQueue: 2 }, "maxQueue"]
  ])("%o is rejected, naming %s", (options, option) => {
    expect(() => createAdvancedCircuitBreaker(ok, options)).toThrow(expect.objectContaining({ option }))
  })

  it("an Effect Schedule as openBackoff is the Effect API's: a CircuitBreakerConfigError naming openBackoff", () => {
    const options = { openBackoff: Schedule.exponential("1 second") as never }
    expect(() => createAdvancedCircuitBreaker(ok, options)).toThrow(
      expect.objectContaining({ option: "openBackoff", reason: expect.stringMatching(/only the Effect API/) })
    )
  })
})
