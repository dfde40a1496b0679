import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { Effect, Schedule } from "effect"
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest"
import { monitorEventLoopLag } from "../../redis/test/utils/busyMachine.js"
import {
  type CallContext,
  type CallOutcomeEvent,
  CircuitBreakerConfigError,
  CircuitBreakerDisposedError,
  CircuitOpenError,
  CircuitTimeoutError,
  createAdvancedCircuitBreaker,
  type StateChangeEvent
} from "../src/index.js"

// --- helpers -------------------------------------------------------------------------

/** Fake setTimeout/clearTimeout and performance (the breaker's clock) together. */
const useFakeClock = () => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] })

/** Attaches a handler at once (no unhandled rejection) and resolves with the rejection reason. */
const rejectionOf = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error("expected the promise to reject, but it resolved")
}

/** Tracks whether a promise has settled, without leaving a rejection unhandled. */
const track = <A>(promise: Promise<A>) => {
  const state: { settled: boolean; value?: A; error?: unknown; rejected: boolean } = {
    settled: false,
    rejected: false
  }
  promise.then(
    (value) => {
      state.settled = true
      state.value = value
    },
    (error: unknown) => {
      state.settled = true
      state.rejected = true
      state.error = error
    }
  )
  return state
}

const deferred = <A>() => {
  let resolve!: (value: A) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<A>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

const never = () => new Promise<never>(() => {})

const configErrorOf = (f: () => unknown): CircuitBreakerConfigError => {
  try {
    f()
  } catch (error) {
    expect(error).toBeInstanceOf(CircuitBreakerConfigError)
    expect(error).toBeInstanceOf(Error)
    return error as CircuitBreakerConfigError
  }
  throw new Error("expected a synchronous CircuitBreakerConfigError, but nothing was thrown")
}

/** Fails fast (instead of at the test timeout) when a promise stays pending. */
const within = <A>(promise: Promise<A>, millis = 500): Promise<A> =>
  new Promise<A>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`still pending after ${millis} ms`)), millis)
    promise.then(
      (value) => {
        clearTimeout(timer)
        res(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        rej(error)
      }
    )
  })

const countTimeouts = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length

afterEach(() => {
  vi.useRealTimers()
  vi.restoreAllMocks()
})

// --- specification examples ------------------------------------------------------------

describe("specification example", () => {
  it("runs the createAdvancedCircuitBreaker example", async () => {
    const externalApiCall = vi.fn(async () => ({ ok: true }))
    const breaker = createAdvancedCircuitBreaker(() => externalApiCall(), {
      failureThreshold: 3,
      resetTimeout: 30000,
      retryBackoff: "exponential"
    })
    const result = await breaker.execute()
    expect(result).toEqual({ ok: true })
    expect(externalApiCall).toHaveBeenCalledTimes(1)
    const metrics = breaker.getMetrics()
    expect(metrics).toMatchObject({ totalCalls: 1, successCalls: 1, failureCalls: 0, state: "CLOSED" })
    expect(breaker.getState()).toBe("CLOSED")
    const reset = breaker.reset()
    expect(reset).toBeInstanceOf(Promise)
    await expect(reset).resolves.toBeUndefined()
    await expect(breaker.getDistributedState()).resolves.toBeNull()
    await breaker.dispose()
  })

  it("distributedTracking: true with no Redis configured throws a CircuitBreakerConfigError naming redis, synchronously", () => {
    // No REDIS_URL in the environment, and no .env file in the working directory.
    vi.stubEnv("REDIS_URL", "")
    const cwd = vi.spyOn(process, "cwd").mockReturnValue(mkdtempSync(join(tmpdir(), "no-dotenv-")))
    try {
      const fn = vi.fn()
      const error = configErrorOf(() => createAdvancedCircuitBreaker(fn, { name: "svc", distributedTracking: true }))
      expect(error.option).toBe("redis")
      expect(error.message).toContain("REDIS_URL")
      expect(error.message).toContain("distributedTracking")
      expect(fn).not.toHaveBeenCalled()
    } finally {
      cwd.mockRestore()
      vi.unstubAllEnvs()
    }
  })

  it("the redis option without distributedTracking, or of the wrong kind, is rejected and never echoed", () => {
    const url = "redis://user:hunter2@127.0.0.1:1"
    const unused = configErrorOf(() => createAdvancedCircuitBreaker(() => 1, { redis: url }))
    expect(unused.option).toBe("redis")
    expect(unused.message).not.toContain("hunter2")
    const wrong = configErrorOf(() =>
      createAdvancedCircuitBreaker(() => 1, { name: "svc", distributedTracking: true, redis: "http://user:hunter2@x" })
    )
    expect(wrong.option).toBe("redis")
    expect(wrong.message).not.toContain("hunter2")
  })

  it("distributedTracking: false is accepted and getDistributedState() resolves to null", async () => {
    const breaker = createAdvancedCircuitBreaker(() => 1, { distributedTracking: false })
    await expect(breaker.getDistributedState()).resolves.toBeNull()
  })
})

// --- execute ---------------------------------------------------------------------------

describe("execute", () => {
  it("calls fn(...args, ctx) and resolves with its result (sync function)", async () => {
    const fn = vi.fn((a: number, b: string, ctx: CallContext) => `${a}-${b}-${ctx.attempt}`)
    const breaker = createAdvancedCircuitBreaker(fn, { passContext: true })
    await expect(breaker.execute(1, "x")).resolves.toBe("1-x-1")
    expect(fn).toHaveBeenCalledTimes(1)
    const args = fn.mock.calls[0]!
    expect(args.length).toBe(3)
    expect(args[0]).toBe(1)
    expect(args[1]).toBe("x")
    expect(args[2]).toHaveProperty("attempt", 1)
    expect(args[2].signal).toBeInstanceOf(AbortSignal)
    expect(args[2].signal.aborted).toBe(false)
  })

  it("resolves with an async function's result", async () => {
    const breaker = createAdvancedCircuitBreaker(async (n: number) => {
      await new Promise((r) => setTimeout(r, 1))
      return { doubled: n * 2 }
    })
    await expect(breaker.execute(21)).resolves.toEqual({ doubled: 42 })
  })

  it("resolves with a thenable's value", async () => {
    const thenable = {
      // biome-ignore lint/suspicious/noThenProperty: a non-Promise thenable, on purpose
      then: (res: (v: number) => void) => res(7)
    } as unknown as PromiseLike<number>
    const breaker = createAdvancedCircuitBreaker(() => thenable, { timeout: false })
    await expect(breaker.execute()).resolves.toBe(7)
  })

  it("rejects with the service's own error object (async)", async () => {
    const boom = new Error("boom")
    const breaker = createAdvancedCircuitBreaker(async () => Promise.reject(boom), { maxRetries: 0 })
    expect(await rejectionOf(breaker.execute())).toBe(boom)
  })

  it("treats a sync throw as a failure, like a rejection", async () => {
    const boom = new TypeError("sync boom")
    const breaker = createAdvancedCircuitBreaker(
      () => {
        throw boom
      },
      { maxRetries: 0, failureThreshold: 2 }
    )
    const p = breaker.execute()
    expect(p).toBeInstanceOf(Promise) // does not throw synchronously
    expect(await rejectionOf(p)).toBe(boom)
    expect(breaker.getMetrics()).toMatchObject({ totalCalls: 1, failureCalls: 1 })
    expect(await rejectionOf(breaker.execute())).toBe(boom)
    expect(breaker.getState()).toBe("OPEN")
  })

  const circular: Record<string, unknown> = { kind: "circular" }
  circular.self = circular
  it.each([
    ["a string", "plain string"],
    ["null", null],
    ["undefined", undefined],
    ["a circular object", circular],
    ["a number", 42]
  ])("rejects with an odd thrown value unchanged: %s (sync and async)", async (_label, value) => {
    const sync = createAdvancedCircuitBreaker(
      () => {
        throw value
      },
      { maxRetries: 0 }
    )
    const async_ = createAdvancedCircuitBreaker(async () => Promise.reject(value), { maxRetries: 0 })
    for (const breaker of [sync, async_]) {
      let caught: unknown = Symbol("none")
      await breaker.execute().then(
        () => expect.fail("should reject"),
        (error: unknown) => {
          caught = error
        }
      )
      expect(caught).toBe(value)
      const metrics = breaker.getMetrics()
      expect(metrics.failureCalls).toBe(1)
      expect(metrics.lastFailures).toHaveLength(1)
      expect(metrics.lastFailures[0]!.error).toBe(value)
    }
  })

  it("retries an odd thrown value and still rejects with it", async () => {
    const fn = vi.fn(() => {
      throw "str"
    })
    const breaker = createAdvancedCircuitBreaker(fn, { maxRetries: 2, retryDelay: 0, jitter: false })
    expect(await rejectionOf(breaker.execute())).toBe("str")
    expect(fn).toHaveBeenCalledTimes(3)
  })
})

// --- CircuitOpenError / CircuitTimeoutError -------------------------------------------------

describe("rejections by the circuit", () => {
  it("an open circuit rejects with CircuitOpenError without calling fn (circuit, retryAfter in ms)", async () => {
    useFakeClock()
    const boom = new Error("down")
    const fn = vi.fn(async () => Promise.reject(boom))
    const breaker = createAdvancedCircuitBreaker(fn, {
      name: "api",
      failureThreshold: 1,
      resetTimeout: 100,
      maxRetries: 0
    })
    expect(await rejectionOf(breaker.execute())).toBe(boom)
    expect(breaker.getState()).toBe("OPEN")
    vi.advanceTimersByTime(30)
    const error = await rejectionOf(breaker.execute())
    expect(fn).toHaveBeenCalledTimes(1)
    expect(error).toBeInstanceOf(CircuitOpenError)
    expect(error).toBeInstanceOf(Error)
    const open = error as CircuitOpenError
    expect(open.name).toBe("CircuitOpenError")
    expect(open.circuit).toBe("api")
    expect(open.retryAfter).toBeCloseTo(70, 5)
    expect(open.message).toContain("api")
    const metrics = breaker.getMetrics()
    expect(metrics.rejectedCalls).toBe(1)
    expect(metrics.totalCalls).toBe(2)
  })

  it("the default circuit name is used in CircuitOpenError.circuit", async () => {
    const breaker = createAdvancedCircuitBreaker(
      () => {
        throw new Error("x")
      },
      { failureThreshold: 1, maxRetries: 0 }
    )
    await rejectionOf(breaker.execute())
    const error = (await rejectionOf(breaker.execute())) as CircuitOpenError
    expect(error).toBeInstanceOf(CircuitOpenError)
    expect(error.circuit).toBe(breaker.name)
    expect(error.retryAfter).toBeGreaterThan(0)
    expect(error.retryAfter).toBeLessThanOrEqual(30000)
  })

  it("an attempt past `timeout` rejects with CircuitTimeoutError (circuit, timeout, attempt)", async () => {
    useFakeClock()
    const breaker = createAdvancedCircuitBreaker(() => never(), { name: "slow", timeout: 50, maxRetries: 0 })
    const state = track(breaker.execute())
    await vi.advanceTimersByTimeAsync(49)
    expect(state.settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(state.rejected).toBe(true)
    const error = state.error as CircuitTimeoutError
    expect(error).toBeInstanceOf(CircuitTimeoutError)
    expect(error).toBeInstanceOf(Error)
    expect(error.name).toBe("CircuitTimeoutError")
    expect(error.circuit).toBe("slow")
    expect(error.timeout).toBe(50)
    expect(error.attempt).toBe(1)
    const metrics = breaker.getMetrics()
    expect(metrics).toMatchObject({ totalCalls: 1, failureCalls: 1, timeoutCalls: 1 })
    expect(metrics.lastFailures[0]!.error).toBe(error)
  })

  it("CircuitTimeoutError reports the attempt that timed out when every attempt times out", async () => {
    useFakeClock()
    const fn = vi.fn(() => never())
    const breaker = createAdvancedCircuitBreaker(fn, { timeout: 20, maxRetries: 1, retryDelay: 10, jitter: false })
    const state = track(breaker.execute())
    await vi.advanceTimersByTimeAsync(20 + 10 + 20)
    expect(state.error).toBeInstanceOf(CircuitTimeoutError)
    expect((state.error as CircuitTimeoutError).attempt).toBe(2)
    expect(fn).toHaveBeenCalledTimes(2)
    expect(breaker.getMetrics()).toMatchObject({ timeoutCalls: 1, failureCalls: 1, retries: 1 })
  })

  it("a timed-out attempt followed by a successful retry resolves (not a timeout call)", async () => {
    useFakeClock()
    let n = 0
    const breaker = createAdvancedCircuitBreaker(() => (++n === 1 ? never() : Promise.resolve("ok")), {
      timeout: 20,
      maxRetries: 1,
      retryDelay: 5,
      jitter: false
    })
    const state = track(breaker.execute())
    await vi.advanceTimersByTimeAsync(25)
    expect(state.value).toBe("ok")
    expect(breaker.getMetrics()).toMatchObject({ successCalls: 1, timeoutCalls: 0, failureCalls: 0, retries: 1 })
  })

  it("a timeout followed by an own error rejects with the own error", async () => {
    useFakeClock()
    const own = new Error("own")
    let n = 0
    const breaker = createAdvancedCircuitBreaker(() => (++n === 1 ? never() : Promise.reject(own)), {
      timeout: 20,
      maxRetries: 1,
      retryDelay: 5,
      jitter: false
    })
    const state = track(breaker.execute())
    await vi.advanceTimersByTimeAsync(25)
    expect(state.error).toBe(own)
    expect(breaker.getMetrics().timeoutCalls).toBe(0)
  })

  it("timeout: false never times out", async () => {
    useFakeClock()
    const d = deferred<string>()
    const breaker = createAdvancedCircuitBreaker(() => d.promise, { timeout: false })
    const state = track(breaker.execute())
    await vi.advanceTimersByTimeAsync(60_000)
    expect(state.settled).toBe(false)
    d.resolve("late")
    await vi.advanceTimersByTimeAsync(0)
    expect(state.value).toBe("late")
  })
})

// --- retries -----------------------------------------------------------------------------------

describe("retries", () => {
  it("maxRetries 3 makes 4 attempts, attempts numbered 1..4, then rejects with the last error", async () => {
    useFakeClock()
    const errors = [new Error("e1"), new Error("e2"), new Error("e3"), new Error("e4")]
    const attempts: Array<number> = []
    const breaker = createAdvancedCircuitBreaker(
      async (ctx: CallContext) => {
        attempts.push(ctx.attempt)
        throw errors[ctx.attempt - 1]
      },
      { maxRetries: 3, retryDelay: 10, jitter: false, failureThreshold: 10, passContext: true }
    )
    const state = track(breaker.execute())
    await vi.advanceTimersByTimeAsync(1000)
    expect(attempts).toEqual([1, 2, 3, 4])
    expect(state.error).toBe(errors[3])
    const metrics = breaker.getMetrics()
    expect(metrics).toMatchObject({ totalCalls: 1, failureCalls: 1, successCalls: 0, retries: 3 })
    expect(metrics.lastFailures.map((f) => f.attempt)).toEqual([1, 2, 3, 4])
    expect(metrics.lastFailures.map((f) => f.error)).toEqual(errors)
  })

  it("50 calls waiting for a retry at once: no MaxListenersExceededWarning, and dispose ends every wait", async () => {
    useFakeClock()
    const warnings: Array<string> = []
    const onWarning = (warning: Error) => warnings.push(warning.name)
    process.on("warning", onWarning)
    try {
      const breaker = createAdvancedCircuitBreaker(() => Promise.reject(new Error("down")), {
        maxRetries: 3,
        retryDelay: 1000,
        jitter: false,
        failureThreshold: 1000
      })
      const calls = Array.from({ length: 50 }, () => track(breaker.execute()))
      await vi.advanceTimersByTimeAsync(10)
      expect(calls.every((c) => !c.settled)).toBe(true)
      await breaker.dispose()
      await vi.advanceTimersByTimeAsync(0)
      expect(calls.every((c) => c.rejected && c.error instanceof CircuitBreakerDisposedError)).toBe(true)
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve))
      expect(warnings).toEqual([])
    } finally {
      process.off("warning", onWarning)
    }
  })

  it("maxRetries 0 makes a single attempt", async () => {
    const fn = vi.fn(() => Promise.reject(new Error("x")))
    const breaker = createAdvancedCircuitBreaker(fn, { maxRetries: 0 })
    await rejectionOf(breaker.execute())
    expect(fn).toHaveBeenCalledTimes(1)
    expect(breaker.getMetrics().retries).toBe(0)
  })

  it("a retry that succeeds resolves the call as one success", async () => {
    useFakeClock()
    let n = 0
    const breaker = createAdvancedCircuitBreaker(
      () => {
        if (++n < 3) throw new Error(`fail ${n}`)
        return "third time"
      },
      { maxRetries: 3, retryDelay: 10, jitter: false }
    )
    const state = track(breaker.execute())
    await vi.advanceTimersByTimeAsync(100)
    expect(state.value).toBe("third time")
    expect(breaker.getMetrics()).toMatchObject({ totalCalls: 1, successCalls: 1, failureCalls: 0, retries: 2 })
  })

  it("exponential backoff: delays 10, 20, 40 ms", async () => {
    useFakeClock()
    const t0 = performance.now()
    const times: Array<number> = []
    const breaker = createAdvancedCircuitBreaker(
      () => {
        times.push(performance.now() - t0)
        throw new Error("x")
      },
      { maxRetries: 3, retryDelay: 10, jitter: false, failureThreshold: 10, retryBackoff: "exponential" }
    )
    const state = track(breaker.execute())
    await vi.advanceTimersByTimeAsync(9)
    expect(times).toEqual([0])
    await vi.advanceTimersByTimeAsync(1000)
    expect(times).toEqual([0, 10, 30, 70])
    expect(state.rejected).toBe(true)
  })

  it("linear backoff: delays 10, 20, 30 ms", async () => {
    useFakeClock()
    const t0 = performance.now()
    const times: Array<number> = []
    const breaker = createAdvancedCircuitBreaker(
      () => {
        times.push(performance.now() - t0)
        throw new Error("x")
      },
      { maxRetries: 3, retryDelay: 10, jitter: false, failureThreshold: 10, retryBackoff: "linear" }
    )
    track(breaker.execute())
    await vi.advanceTimersByTimeAsync(1000)
    expect(times).toEqual([0, 10, 30, 60])
  })

  it("maxRetryDelay caps the backoff", async () => {
    useFakeClock()
    const t0 = performance.now()
    const times: Array<number> = []
    const breaker = createAdvancedCircuitBreaker(
      () => {
        times.push(performance.now() - t0)
        throw new Error("x")
      },
      { maxRetries: 3, retryDelay: 10, maxRetryDelay: 15, jitter: false, failureThreshold: 10 }
    )
    track(breaker.execute())
    await vi.advanceTimersByTimeAsync(1000)
    expect(times).toEqual([0, 10, 25, 40])
  })

  it("jitter keeps each delay within ±20 % or so of the nominal delay (real timers, loose)", async () => {
    const times: Array<number> = []
    const t0 = performance.now()
    const started = Date.now()
    // The upper bound counts the time this process could run (see busyMachine.ts).
    const lag = monitorEventLoopLag()
    const breaker = createAdvancedCircuitBreaker(
      () => {
        times.push(performance.now() - t0)
        throw new Error("x")
      },
      { maxRetries: 2, retryDelay: 20, jitter: true, failureThreshold: 10 }
    )
    await rejectionOf(breaker.execute())
    const ended = Date.now()
    expect(times).toHaveLength(3)
    const d1 = times[1]! - times[0]!
    const d2 = times[2]! - times[1]!
    expect(d1).toBeGreaterThanOrEqual(15)
    expect(d2).toBeGreaterThanOrEqual(30)
    await Effect.runPromise(lag.settle)
    const stalled = lag.stalledBetween(started, ended)
    lag.stop()
    expect(d1 + d2 - stalled).toBeLessThan(500)
  })

  it("stops at once when the circuit opens, rejecting with the last real error", async () => {
    useFakeClock()
    const errors: Array<Error> = []
    const fn = vi.fn(() => {
      const e = new Error(`attempt ${errors.length + 1}`)
      errors.push(e)
      throw e
    })
    const breaker = createAdvancedCircuitBreaker(fn, {
      failureThreshold: 2,
      maxRetries: 5,
      retryDelay: 10,
      jitter: false
    })
    const state = track(breaker.execute())
    await vi.advanceTimersByTimeAsync(10_000)
    expect(fn).toHaveBeenCalledTimes(2)
    expect(state.error).toBe(errors[1])
    expect(state.error).not.toBeInstanceOf(CircuitOpenError)
    expect(breaker.getState()).toBe("OPEN")
    expect(breaker.getMetrics()).toMatchObject({ totalCalls: 1, failureCalls: 1, rejectedCalls: 0, retries: 1 })
  })

  it("a retry that finds the circuit opened by another call rejects with its own last error", async () => {
    useFakeClock()
    const slowError = new Error("slow caller's error")
    const other = new Error("other")
    let calls = 0
    const breaker = createAdvancedCircuitBreaker(
      (which: "slow" | "fast") => {
        calls++
        throw which === "slow" ? slowError : other
      },
      { failureThreshold: 2, maxRetries: 1, retryDelay: 50, jitter: false }
    )
    const slow = track(breaker.execute("slow")) // failure 1, retry in 50 ms
    await vi.advanceTimersByTimeAsync(10)
    const fast = track(breaker.execute("fast")) // failure 2: the circuit opens
    await vi.advanceTimersByTimeAsync(100)
    expect(fast.error).toBe(other)
    expect(slow.error).toBe(slowError)
    expect(calls).toBe(2)
  })

  it("isFailure: errors it excludes are not retried and do not open the circuit", async () => {
    const ignored = new Error("404")
    const fn = vi.fn(() => Promise.reject(ignored))
    const breaker = createAdvancedCircuitBreaker(fn, {
      failureThreshold: 1,
      maxRetries: 3,
      retryDelay: 0,
      isFailure: (e) => e !== ignored
    })
    expect(await rejectionOf(breaker.execute())).toBe(ignored)
    expect(fn).toHaveBeenCalledTimes(1)
    expect(breaker.getState()).toBe("CLOSED")
  })
})

// --- cancellation ------------------------------------------------------------------------------

describe("cancellation", () => {
  it("the attempt's signal aborts on timeout, with the CircuitTimeoutError as its reason", async () => {
    useFakeClock()
    let signal: AbortSignal | undefined
    const breaker = createAdvancedCircuitBreaker(
      (ctx: CallContext) => {
        signal = ctx.signal
        return never()
      },
      { timeout: 30, maxRetries: 0, passContext: true }
    )
    const state = track(breaker.execute())
    expect(signal!.aborted).toBe(false)
    await vi.advanceTimersByTimeAsync(30)
    expect(signal!.aborted).toBe(true)
    expect(state.error).toBeInstanceOf(CircuitTimeoutError)
    expect(signal!.reason).toBe(state.error)
  })

  it("the signal reads as aborted when the function first reads it after the timeout", async () => {
    useFakeClock()
    const gate = deferred<void>()
    let seen: { aborted: boolean; reason: unknown } | undefined
    const breaker = createAdvancedCircuitBreaker(
      async (ctx: CallContext) => {
        await gate.promise // e.g. awaiting a connection pool before starting the request
        seen = { aborted: ctx.signal.aborted, reason: ctx.signal.reason }
      },
      { timeout: 30, maxRetries: 0, passContext: true }
    )
    const state = track(breaker.execute())
    await vi.advanceTimersByTimeAsync(30)
    expect(state.error).toBeInstanceOf(CircuitTimeoutError)
    gate.resolve()
    await vi.advanceTimersByTimeAsync(0)
    expect(seen).toBeDefined()
    expect(seen!.aborted).toBe(true)
    expect(seen!.reason).toBe(state.error)
  })

  it("the caller's signal aborts the call: rejects with its reason, fn's signal aborts, not a failure", async () => {
    const controller = new AbortController()
    let signal: AbortSignal | undefined
    const breaker = createAdvancedCircuitBreaker(
      (ctx: CallContext) => {
        signal = ctx.signal
        return never()
      },
      { failureThreshold: 1, maxRetries: 3, passContext: true }
    )
    const p = breaker.executeWith({ signal: controller.signal })
    const reason = new Error("caller gave up")
    controller.abort(reason)
    expect(await rejectionOf(p)).toBe(reason)
    expect(signal!.aborted).toBe(true)
    expect(signal!.reason).toBe(reason)
    expect(breaker.getState()).toBe("CLOSED")
    const metrics = breaker.getMetrics()
    expect(metrics.failureCalls).toBe(0)
    expect(metrics.timeoutCalls).toBe(0)
    expect(metrics.lastFailures).toHaveLength(0)
  })

  it("the caller's signal aborts a call with timeout: false, and one waiting for a retry", async () => {
    const c1 = new AbortController()
    const noTimeout = createAdvancedCircuitBreaker(() => never(), { timeout: false })
    const p1 = noTimeout.executeWith({ signal: c1.signal })
    c1.abort("stop")
    expect(await rejectionOf(p1)).toBe("stop")

    const c2 = new AbortController()
    const fn = vi.fn(() => Promise.reject(new Error("x")))
    const retrying = createAdvancedCircuitBreaker(fn, { maxRetries: 3, retryDelay: 10_000, jitter: false })
    const p2 = retrying.executeWith({ signal: c2.signal })
    await new Promise((r) => setTimeout(r, 5))
    expect(fn).toHaveBeenCalledTimes(1)
    const lag = monitorEventLoopLag()
    const before = Date.now()
    c2.abort("stop retrying")
    expect(await rejectionOf(p2)).toBe("stop retrying")
    const stopping = await lag.runningSince(before)
    lag.stop()
    expect(stopping).toBeLessThan(1000)
    expect(fn).toHaveBeenCalledTimes(1)
  })

  it("the default abort reason (an AbortError) is what the call rejects with", async () => {
    const controller = new AbortController()
    const breaker = createAdvancedCircuitBreaker(() => never())
    const p = breaker.executeWith({ signal: controller.signal })
    controller.abort()
    const error = await rejectionOf(p)
    expect(error).toBe(controller.signal.reason)
    expect((error as Error).name).toBe("AbortError")
  })

  it("an already-aborted caller signal rejects at once without calling fn", async () => {
    const fn = vi.fn(() => "never")
    const breaker = createAdvancedCircuitBreaker(fn)
    const reason = new Error("already")
    const error = await rejectionOf(breaker.executeWith({ signal: AbortSignal.abort(reason) }))
    expect(error).toBe(reason)
    expect(fn).not.toHaveBeenCalled()
    expect(breaker.getMetrics().totalCalls).toBe(0)
  })

  it("executeWith with a signal that completes normally resolves", async () => {
    const controller = new AbortController()
    const breaker = createAdvancedCircuitBreaker(async (x: number) => x + 1)
    await expect(breaker.executeWith({ signal: controller.signal }, 1)).resolves.toBe(2)
    await expect(breaker.executeWith({}, 2)).resolves.toBe(3)
    controller.abort() // after the call: no effect
    expect(breaker.getMetrics().successCalls).toBe(2)
  })

  it.each([
    ["an object", {}],
    ["a string", "signal"],
    ["an AbortController", new AbortController()]
  ])("executeWith with a non-AbortSignal signal (%s) rejects with CircuitBreakerConfigError", async (_l, signal) => {
    const fn = vi.fn(() => 1)
    const breaker = createAdvancedCircuitBreaker(fn)
    const p = breaker.executeWith({ signal: signal as any })
    expect(p).toBeInstanceOf(Promise)
    const error = await rejectionOf(p)
    expect(error).toBeInstanceOf(CircuitBreakerConfigError)
    expect((error as CircuitBreakerConfigError).option).toBe("signal")
    expect(fn).not.toHaveBeenCalled()
  })
})

// --- dispose -----------------------------------------------------------------------------------

describe("dispose", () => {
  it("rejects in-flight calls (with a timeout) with CircuitBreakerDisposedError and aborts their signal", async () => {
    let signal: AbortSignal | undefined
    const breaker = createAdvancedCircuitBreaker(
      (ctx: CallContext) => {
        signal = ctx.signal
        return never()
      },
      { name: "svc", timeout: 10_000, passContext: true }
    )
    const p = breaker.execute()
    const lag = monitorEventLoopLag()
    const before = Date.now()
    await breaker.dispose()
    const error = await rejectionOf(p)
    const stopping = await lag.runningSince(before)
    lag.stop()
    expect(stopping).toBeLessThan(1000)
    expect(error).toBeInstanceOf(CircuitBreakerDisposedError)
    expect(error).toBeInstanceOf(Error)
    expect((error as CircuitBreakerDisposedError).name).toBe("CircuitBreakerDisposedError")
    expect((error as CircuitBreakerDisposedError).circuit).toBe("svc")
    expect(signal!.aborted).toBe(true)
    expect(signal!.reason).toBeInstanceOf(CircuitBreakerDisposedError)
    expect(breaker.getMetrics().failureCalls).toBe(0)
  })

  it("rejects later calls with CircuitBreakerDisposedError without calling fn", async () => {
    const fn = vi.fn(() => 1)
    const breaker = createAdvancedCircuitBreaker(fn)
    await breaker.dispose()
    expect(await rejectionOf(breaker.execute())).toBeInstanceOf(CircuitBreakerDisposedError)
    expect(await rejectionOf(breaker.executeWith({}))).toBeInstanceOf(CircuitBreakerDisposedError)
    expect(fn).not.toHaveBeenCalled()
    await expect(breaker.dispose()).resolves.toBeUndefined() // idempotent
  })

  it("cuts short a call waiting for a retry", async () => {
    const fn = vi.fn(() => Promise.reject(new Error("x")))
    const breaker = createAdvancedCircuitBreaker(fn, { maxRetries: 3, retryDelay: 10_000, jitter: false })
    const p = breaker.execute()
    await new Promise((r) => setTimeout(r, 5))
    const lag = monitorEventLoopLag()
    const before = Date.now()
    await breaker.dispose()
    expect(await rejectionOf(p)).toBeInstanceOf(CircuitBreakerDisposedError)
    const stopping = await lag.runningSince(before)
    lag.stop()
    expect(stopping).toBeLessThan(1000)
    expect(fn).toHaveBeenCalledTimes(1)
  })

  it("drops listeners: no events after dispose", async () => {
    const outcomes: Array<CallOutcomeEvent> = []
    const d = deferred<number>()
    const breaker = createAdvancedCircuitBreaker(() => d.promise, { timeout: false })
    breaker.onCallOutcome((e) => outcomes.push(e))
    const p = breaker.execute()
    await breaker.dispose()
    d.resolve(1)
    await p.catch(() => undefined)
    expect(outcomes).toEqual([])
  })

  it("Symbol.asyncDispose disposes (await using)", async () => {
    const fn = vi.fn(() => 1)
    let escaped: ReturnType<typeof createAdvancedCircuitBreaker<[], number>> | undefined
    {
      await using breaker = createAdvancedCircuitBreaker(fn)
      escaped = breaker
      await expect(breaker.execute()).resolves.toBe(1)
    }
    expect(await rejectionOf(escaped!.execute())).toBeInstanceOf(CircuitBreakerDisposedError)
    expect(fn).toHaveBeenCalledTimes(1)
    expect(typeof escaped![Symbol.asyncDispose]).toBe("function")
  })
})

// --- metrics ----------------------------------------------------------------------------------

describe("getMetrics", () => {
  it("has the documented shape and counts per execute() call", async () => {
    const before = Date.now()
    const boom = new Error("boom")
    let fail = false
    const breaker = createAdvancedCircuitBreaker(
      async () => {
        if (fail) throw boom
        return "ok"
      },
      { name: "metered", serviceId: "svc-1", failureThreshold: 2, maxRetries: 1, retryDelay: 0, jitter: false }
    )
    await breaker.execute()
    await breaker.execute()
    fail = true
    expect(await rejectionOf(breaker.execute())).toBe(boom) // 2 attempts: the circuit opens on the 2nd
    expect(await rejectionOf(breaker.execute())).toBeInstanceOf(CircuitOpenError)
    const m = breaker.getMetrics()
    expect(Object.keys(m)).toEqual(
      expect.arrayContaining([
        "totalCalls",
        "successCalls",
        "failureCalls",
        "rejectedCalls",
        "timeoutCalls",
        "retries",
        "latency",
        "state",
        "lastFailures"
      ])
    )
    expect(m).toMatchObject({
      totalCalls: 4,
      successCalls: 2,
      failureCalls: 2, // rejections count as failed calls
      rejectedCalls: 1,
      timeoutCalls: 0,
      retries: 1,
      state: "OPEN"
    })
    expect(m.totalCalls).toBe(m.successCalls + m.failureCalls)
    expect(m.latency.count).toBe(3)
    expect(m.latency.max).toBeGreaterThanOrEqual(m.latency.p50)
    expect(m.lastFailures).toHaveLength(2)
    const [f1, f2] = m.lastFailures
    for (const [f, attempt] of [
      [f1!, 1],
      [f2!, 2]
    ] as const) {
      expect(f.error).toBe(boom)
      expect(f.attempt).toBe(attempt)
      expect(f.serviceId).toBe("svc-1")
      expect(f.circuit).toBe("metered")
      expect(f.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      expect(f.timestamp).toBeGreaterThanOrEqual(before - 1000)
      expect(f.timestamp).toBeLessThanOrEqual(Date.now() + 1000)
    }
    expect(f1!.id).not.toBe(f2!.id)
  })

  it("serviceId defaults to the name", async () => {
    const breaker = createAdvancedCircuitBreaker(() => Promise.reject(new Error("x")), { name: "n1", maxRetries: 0 })
    await rejectionOf(breaker.execute())
    expect(breaker.getMetrics().lastFailures[0]).toMatchObject({ serviceId: "n1", circuit: "n1" })
  })

  it("state follows getState()", async () => {
    useFakeClock()
    const breaker = createAdvancedCircuitBreaker(() => Promise.reject(new Error("x")), {
      failureThreshold: 1,
      resetTimeout: 50,
      maxRetries: 0
    })
    expect(breaker.getMetrics().state).toBe("CLOSED")
    await rejectionOf(breaker.execute())
    expect(breaker.getMetrics().state).toBe("OPEN")
    vi.advanceTimersByTime(50)
    expect(breaker.getMetrics().state).toBe("HALF_OPEN")
  })

  it("metricsTracking: false still reports the state, with zero counters", async () => {
    const breaker = createAdvancedCircuitBreaker(() => 1, { metricsTracking: false })
    await breaker.execute()
    expect(breaker.getMetrics()).toMatchObject({ totalCalls: 0, successCalls: 0, state: "CLOSED" })
  })

  it("failureHistorySize bounds lastFailures, keeping the most recent, oldest first", async () => {
    const errors = Array.from({ length: 5 }, (_, i) => new Error(`e${i}`))
    let i = 0
    const breaker = createAdvancedCircuitBreaker(() => Promise.reject(errors[i++]), {
      failureHistorySize: 3,
      maxRetries: 0,
      failureThreshold: 100
    })
    for (let k = 0; k < 5; k++) await rejectionOf(breaker.execute())
    expect(breaker.getMetrics().lastFailures.map((f) => f.error)).toEqual(errors.slice(2))
  })
})

// --- state machine ----------------------------------------------------------------------------

describe("getState / half-open / reset", () => {
  it("reports HALF_OPEN as soon as resetTimeout has passed, with no call needed", async () => {
    useFakeClock()
    const fn = vi.fn(() => Promise.reject(new Error("x")))
    const breaker = createAdvancedCircuitBreaker(fn, { failureThreshold: 1, resetTimeout: 100, maxRetries: 0 })
    await rejectionOf(breaker.execute())
    expect(breaker.getState()).toBe("OPEN")
    vi.advanceTimersByTime(99)
    expect(breaker.getState()).toBe("OPEN")
    vi.advanceTimersByTime(1)
    expect(breaker.getState()).toBe("HALF_OPEN")
    expect(fn).toHaveBeenCalledTimes(1)
  })

  it("reports HALF_OPEN after resetTimeout with real time (tolerant)", async () => {
    const breaker = createAdvancedCircuitBreaker(() => Promise.reject(new Error("x")), {
      failureThreshold: 1,
      resetTimeout: 30,
      maxRetries: 0
    })
    await rejectionOf(breaker.execute())
    expect(breaker.getState()).toBe("OPEN")
    await new Promise((r) => setTimeout(r, 60))
    expect(breaker.getState()).toBe("HALF_OPEN")
  })

  it("half-open admits at most maxConcurrentTrials trials at once; successThreshold successes close", async () => {
    useFakeClock()
    const pending: Array<ReturnType<typeof deferred<string>>> = []
    let failing = true
    const fn = vi.fn(() => {
      if (failing) return Promise.reject(new Error("down"))
      const d = deferred<string>()
      pending.push(d)
      return d.promise
    })
    const breaker = createAdvancedCircuitBreaker(fn, {
      failureThreshold: 1,
      resetTimeout: 100,
      successThreshold: 2,
      maxConcurrentTrials: 2,
      maxRetries: 0,
      timeout: false
    })
    await rejectionOf(breaker.execute())
    vi.advanceTimersByTime(100)
    failing = false
    const t1 = track(breaker.execute())
    const t2 = track(breaker.execute())
    const third = await rejectionOf(breaker.execute()) // rejected at once: no timer advanced
    expect(third).toBeInstanceOf(CircuitOpenError)
    expect(fn).toHaveBeenCalledTimes(3) // 1 failure + 2 trials
    expect(breaker.getState()).toBe("HALF_OPEN")
    pending[0]!.resolve("a")
    await vi.advanceTimersByTimeAsync(0)
    expect(t1.value).toBe("a")
    expect(breaker.getState()).toBe("HALF_OPEN")
    // one success, one trial in flight: still full
    expect(await rejectionOf(breaker.execute())).toBeInstanceOf(CircuitOpenError)
    pending[1]!.resolve("b")
    await vi.advanceTimersByTimeAsync(0)
    expect(t2.value).toBe("b")
    expect(breaker.getState()).toBe("CLOSED")
    const t3 = track(breaker.execute())
    pending[2]!.resolve("c")
    await vi.advanceTimersByTimeAsync(0)
    expect(t3.value).toBe("c")
  })

  it("a trial failure reopens the circuit", async () => {
    useFakeClock()
    const trialError = new Error("still down")
    let n = 0
    const fn = vi.fn(() => Promise.reject(++n === 1 ? new Error("first") : trialError))
    const breaker = createAdvancedCircuitBreaker(fn, {
      failureThreshold: 1,
      resetTimeout: 100,
      successThreshold: 2,
      maxRetries: 3,
      retryDelay: 1
    })
    await vi.advanceTimersByTimeAsync(0)
    await rejectionOf(breaker.execute())
    vi.advanceTimersByTime(100)
    expect(breaker.getState()).toBe("HALF_OPEN")
    const state = track(breaker.execute())
    await vi.advanceTimersByTimeAsync(50)
    expect(state.error).toBe(trialError)
    expect(fn).toHaveBeenCalledTimes(2) // no retry once reopened
    expect(breaker.getState()).toBe("OPEN")
    const open = (await rejectionOf(breaker.execute())) as CircuitOpenError
    expect(open).toBeInstanceOf(CircuitOpenError)
    expect(open.retryAfter).toBeCloseTo(50, 5)
  })

  it("reset() returns a Promise and the state is CLOSED synchronously", async () => {
    const fn = vi.fn(() => Promise.reject(new Error("x")))
    const breaker = createAdvancedCircuitBreaker(fn, { failureThreshold: 1, maxRetries: 0, resetTimeout: 30000 })
    await rejectionOf(breaker.execute())
    expect(breaker.getState()).toBe("OPEN")
    const p = breaker.reset()
    expect(breaker.getState()).toBe("CLOSED")
    expect(p).toBeInstanceOf(Promise)
    await p
    expect(breaker.getState()).toBe("CLOSED")
    // calls go through again
    await rejectionOf(breaker.execute())
    expect(fn).toHaveBeenCalledTimes(2)
  })
})

// --- events -------------------------------------------------------------------------------------

describe("events", () => {
  it("onStateChange receives { circuit, from, to, time, cause } with the tripping failure as cause", async () => {
    const events: Array<StateChangeEvent> = []
    const trip = new Error("trip")
    const breaker = createAdvancedCircuitBreaker(() => Promise.reject(trip), {
      name: "watched",
      failureThreshold: 2,
      maxRetries: 0,
      resetTimeout: 20
    })
    breaker.onStateChange((e) => events.push(e))
    const before = Date.now()
    await rejectionOf(breaker.execute())
    expect(events).toEqual([])
    await rejectionOf(breaker.execute())
    expect(events).toHaveLength(1)
    const [e] = events
    expect(e).toMatchObject({ circuit: "watched", from: "CLOSED", to: "OPEN" })
    expect(e!.cause).toBe(trip)
    expect(typeof e!.time).toBe("number")
    expect(Math.abs(e!.time - before)).toBeLessThan(1000)
    await new Promise((r) => setTimeout(r, 40))
    expect(breaker.getState()).toBe("HALF_OPEN")
    expect(events.map((x) => [x.from, x.to])).toEqual([
      ["CLOSED", "OPEN"],
      ["OPEN", "HALF_OPEN"]
    ])
    await breaker.reset()
    expect(events.at(-1)).toMatchObject({ from: "HALF_OPEN", to: "CLOSED" })
  })

  it("onStateChange returns a working unsubscribe function", async () => {
    const a: Array<StateChangeEvent> = []
    const b: Array<StateChangeEvent> = []
    const breaker = createAdvancedCircuitBreaker(() => Promise.reject(new Error("x")), {
      failureThreshold: 1,
      maxRetries: 0
    })
    const unsubscribe = breaker.onStateChange((e) => a.push(e))
    breaker.onStateChange((e) => b.push(e))
    expect(typeof unsubscribe).toBe("function")
    unsubscribe()
    await rejectionOf(breaker.execute())
    expect(a).toEqual([])
    expect(b).toHaveLength(1)
  })

  it("onCallOutcome receives success, failure, retry, timeout and rejected events", async () => {
    useFakeClock()
    const events: Array<CallOutcomeEvent> = []
    const boom = new Error("boom")
    let mode: "ok" | "fail" | "hang" = "ok"
    const breaker = createAdvancedCircuitBreaker(
      () => (mode === "ok" ? Promise.resolve(1) : mode === "fail" ? Promise.reject(boom) : never()),
      { name: "ev", failureThreshold: 3, maxRetries: 1, retryDelay: 10, jitter: false, timeout: 20 }
    )
    const unsubscribe = breaker.onCallOutcome((e) => events.push(e))
    await breaker.execute()
    mode = "fail"
    const failed = track(breaker.execute())
    await vi.advanceTimersByTimeAsync(10)
    expect(failed.error).toBe(boom)
    mode = "hang"
    const timedOut = track(breaker.execute())
    await vi.advanceTimersByTimeAsync(20)
    expect(timedOut.error).toBeInstanceOf(CircuitTimeoutError)
    expect(await rejectionOf(breaker.execute())).toBeInstanceOf(CircuitOpenError)
    expect(events.map((e) => [e.outcome, e.attempt])).toEqual([
      ["success", 1],
      ["failure", 1],
      ["retry", 2],
      ["failure", 2],
      ["timeout", 1],
      ["rejected", 1]
    ])
    for (const e of events) {
      expect(e.circuit).toBe("ev")
      expect(typeof e.time).toBe("number")
    }
    expect(events[1]!.error).toBe(boom)
    expect(events[4]!.error).toBe(timedOut.error)
    unsubscribe()
    await breaker.reset()
    mode = "ok"
    await breaker.execute()
    expect(events).toHaveLength(6)
  })

  it("a throwing onCallOutcome listener never breaks a call and emits a process warning", async () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined)
    const seen: Array<string> = []
    const breaker = createAdvancedCircuitBreaker(
      (ok: boolean) => (ok ? Promise.resolve("fine") : Promise.reject(new Error("bad"))),
      { maxRetries: 0 }
    )
    breaker.onCallOutcome(() => {
      throw new Error("listener exploded")
    })
    breaker.onCallOutcome((e) => seen.push(e.outcome))
    await expect(breaker.execute(true)).resolves.toBe("fine")
    expect((await rejectionOf(breaker.execute(false))) as Error).toHaveProperty("message", "bad")
    expect(seen).toEqual(["success", "failure"])
    expect(warn).toHaveBeenCalledTimes(2)
    expect(String(warn.mock.calls[0]![0])).toContain("listener exploded")
  })

  it("a throwing onStateChange listener never breaks a call and emits a process warning", async () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined)
    const trip = new Error("trip")
    const breaker = createAdvancedCircuitBreaker(() => Promise.reject(trip), { failureThreshold: 1, maxRetries: 0 })
    breaker.onStateChange(() => {
      throw new Error("alerting down")
    })
    expect(await rejectionOf(breaker.execute())).toBe(trip)
    expect(breaker.getState()).toBe("OPEN")
    expect(warn).toHaveBeenCalled()
    const p = breaker.reset()
    expect(breaker.getState()).toBe("CLOSED")
    await expect(p).resolves.toBeUndefined()
  })

  it.each([
    ["a string", () => "just a string"],
    ["null", () => null],
    ["an object without a prototype", () => Object.create(null)],
    [
      "an object whose toString throws",
      () => ({
        toString() {
          throw new Error("no")
        }
      })
    ]
  ])("a listener throwing %s never breaks a call", async (_label, make) => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined)
    const breaker = createAdvancedCircuitBreaker(async () => "fine", {})
    breaker.onCallOutcome(() => {
      throw make()
    })
    await expect(within(breaker.execute())).resolves.toBe("fine")
    expect(warn).toHaveBeenCalledTimes(1)
  })

  it("an onStateChange listener throwing an object without a prototype never breaks a call", async () => {
    vi.spyOn(process, "emitWarning").mockImplementation(() => undefined)
    const trip = new Error("trip")
    const breaker = createAdvancedCircuitBreaker(() => Promise.reject(trip), { failureThreshold: 1, maxRetries: 0 })
    breaker.onStateChange(() => {
      throw Object.create(null)
    })
    expect(await rejectionOf(within(breaker.execute()))).toBe(trip)
    expect(breaker.getState()).toBe("OPEN")
  })

  it("rejects a non-function listener with CircuitBreakerConfigError", () => {
    const breaker = createAdvancedCircuitBreaker(() => 1)
    expect(configErrorOf(() => breaker.onStateChange(42 as any)).option).toBe("listener")
    expect(configErrorOf(() => breaker.onCallOutcome(undefined as any)).option).toBe("listener")
  })
})

// --- bad input --------------------------------------------------------------------------------

describe("bad input", () => {
  it.each([["a string", "fn"] as const, ["undefined", undefined] as const, ["an object", {}] as const])(
    'fn that is not a function (%s) throws naming "fn"',
    (_label, fn) => {
      const error = configErrorOf(() => createAdvancedCircuitBreaker(fn as any))
      expect(error.option).toBe("fn")
      expect(error.message).toContain("fn")
    }
  )

  it.each([
    ["failureThreshold", 0],
    ["failureThreshold", -1],
    ["failureThreshold", 1.5],
    ["failureThreshold", "3"],
    ["failureThreshold", Number.NaN],
    ["resetTimeout", 0],
    ["resetTimeout", -5],
    ["resetTimeout", Number.POSITIVE_INFINITY],
    ["timeout", 0],
    ["timeout", -1],
    ["successThreshold", 0],
    ["maxRetries", -1],
    ["maxRetries", 2.5],
    ["retryDelay", -1],
    ["retryBackoff", "quadratic"],
    ["jitter", "yes"],
    ["metricsTracking", 1],
    ["distributedTracking", "no"],
    ["name", ""],
    ["name", 42],
    ["isFailure", true],
    ["failureHistorySize", -1]
  ])("invalid %s = %s throws naming the option", (option, value) => {
    const fn = vi.fn()
    const error = configErrorOf(() => createAdvancedCircuitBreaker(fn, { [option]: value } as any))
    expect(error.option).toBe(option)
    expect(error.message).toContain(option)
    expect(fn).not.toHaveBeenCalled()
  })

  it("maxRetryDelay shorter than retryDelay throws naming maxRetryDelay", () => {
    const error = configErrorOf(() => createAdvancedCircuitBreaker(() => 1, { retryDelay: 100, maxRetryDelay: 50 }))
    expect(error.option).toBe("maxRetryDelay")
  })

  it("an unknown option (a typo) throws naming it", () => {
    const error = configErrorOf(() => createAdvancedCircuitBreaker(() => 1, { failureThreshhold: 3 } as any))
    expect(error.option).toBe("failureThreshhold")
    expect(error.message).toContain("failureThreshhold")
  })

  it.each([
    ["a number", 5],
    ["a string", "failureThreshold: 3"],
    ["null", null],
    ["an empty array", []],
    ["a non-empty array", [1]]
  ])('options that are not an object (%s) throw naming "options"', (_label, options) => {
    const error = configErrorOf(() => createAdvancedCircuitBreaker(() => 1, options as any))
    expect(error.option).toBe("options")
  })

  it("valid options in the accepted forms are accepted", () => {
    expect(() =>
      createAdvancedCircuitBreaker(() => 1, {
        failureThreshold: 1,
        resetTimeout: 1,
        timeout: false,
        successThreshold: 1,
        retryBackoff: "linear",
        maxRetries: 0,
        retryDelay: 0,
        maxRetryDelay: 0,
        jitter: false,
        metricsTracking: false,
        failureHistorySize: 0
      })
    ).not.toThrow()
    expect(() => createAdvancedCircuitBreaker(() => 1, undefined)).not.toThrow()
  })
})

// --- open handles ---------------------------------------------------------------------------

describe("open handles", () => {
  it("no extra Timeout is active after calls complete, nor after dispose", async () => {
    const baseline = countTimeouts()
    const trip = createAdvancedCircuitBreaker(() => Promise.reject(new Error("x")), {
      failureThreshold: 1,
      resetTimeout: 30_000,
      maxRetries: 0,
      timeout: 10_000
    })
    const fast = createAdvancedCircuitBreaker(async (x: number, ctx: CallContext) => (ctx.signal.aborted ? -1 : x), {
      timeout: 10_000,
      passContext: true
    })
    const caller = new AbortController()
    await rejectionOf(trip.execute())
    await rejectionOf(trip.execute()) // CircuitOpenError
    await Promise.all([fast.execute(1), fast.execute(2), fast.executeWith({ signal: caller.signal }, 3)])
    expect(trip.getState()).toBe("OPEN")
    expect(countTimeouts()).toBe(baseline)
    await trip.dispose()
    await fast.dispose()
    expect(countTimeouts()).toBe(baseline)
  })

  it("an in-flight call holds the process; it is released when the call ends", async () => {
    const baseline = countTimeouts()
    const d = deferred<number>()
    const breaker = createAdvancedCircuitBreaker(() => d.promise, { timeout: 10_000 })
    const p = breaker.execute()
    expect(countTimeouts()).toBe(baseline + 1)
    d.resolve(5)
    await expect(p).resolves.toBe(5)
    expect(countTimeouts()).toBe(baseline)
    await breaker.dispose()
    expect(countTimeouts()).toBe(baseline)
  })
})

describe("child process (built package)", () => {
  const root = resolve(__dirname, "../../..")
  const dist = join(root, "packages/promise/dist/index.js")
  let dir: string

  beforeAll(() => {
    try {
      execFileSync(
        process.execPath,
        [
          join(root, "node_modules/typescript/bin/tsc"),
          "-b",
          "packages/core/tsconfig.build.json",
          "packages/promise/tsconfig.build.json"
        ],
        { cwd: root, stdio: "pipe" }
      )
    } catch (error) {
      const e = error as { stdout?: Buffer; stderr?: Buffer }
      throw new Error(`building the packages failed:\n${String(e.stdout ?? "")}${String(e.stderr ?? "")}`)
    }
    dir = mkdtempSync(join(tmpdir(), "cb-promise-exit-"))
  }, 120_000)

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it("a process that never disposes its breakers exits by itself", async () => {
    const script = join(dir, "script.mjs")
    writeFileSync(
      script,
      `
import { createAdvancedCircuitBreaker, CircuitBreakerManager, CircuitOpenError } from ${JSON.stringify(pathToFileURL(dist).href)}
const tripped = createAdvancedCircuitBreaker(() => Promise.reject(new Error("down")), {
  failureThreshold: 1, resetTimeout: 30000, maxRetries: 0, timeout: 10000
})
await tripped.execute().catch(() => {})
const rejected = await tripped.execute().catch((e) => e)
if (!(rejected instanceof CircuitOpenError)) { console.error("expected CircuitOpenError"); process.exit(2) }
const quick = createAdvancedCircuitBreaker(async (x, ctx) => { void ctx.signal; return x * 2 }, { timeout: 10000, passContext: true })
const r = await quick.execute(21)
if (r !== 42) { console.error("bad result", r); process.exit(3) }
await quick.executeWith({ signal: new AbortController().signal }, 1)
let n = 0
const retrying = createAdvancedCircuitBreaker(() => { if (++n < 2) throw new Error("once"); return "ok" }, { retryDelay: 5, timeout: 10000 })
await retrying.execute()
CircuitBreakerManager.register("svc", async () => "y", { timeout: 10000 })
await CircuitBreakerManager.get("svc").execute()
await CircuitBreakerManager.aggregateMetrics()
console.log("done", tripped.getState())
`
    )
    // Timed from the script's last line, not from the spawn: on a loaded machine starting Node and loading the
    // package can take seconds, while a timer of the script (10 s and more) keeping it alive would take 10 s here.
    let finished = Number.POSITIVE_INFINITY
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolveRun, rejectRun) => {
        const child = spawn(process.execPath, [script], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
        let stdout = ""
        let stderr = ""
        child.stdout.on("data", (c) => {
          stdout += c
          if (stdout.includes("done")) finished = Math.min(finished, Date.now())
        })
        child.stderr.on("data", (c) => (stderr += c))
        const killer = setTimeout(() => child.kill("SIGKILL"), 25_000)
        child.on("error", rejectRun)
        child.on("exit", (code) => {
          clearTimeout(killer)
          resolveRun({ code, stdout, stderr })
        })
      }
    )
    const elapsed = Date.now() - finished
    expect(stderr).toBe("")
    expect(stdout.trim()).toBe("done OPEN")
    expect(code).toBe(0)
    expect(elapsed).toBeLessThan(5000)
  }, 30_000)
})

describe("hostile options and results never leave a call pending", () => {
  it("an isFailure that throws: the call rejects with the service's error, counted as a failure", async () => {
    const boom = new Error("declined")
    const breaker = createAdvancedCircuitBreaker(async () => Promise.reject(boom), {
      maxRetries: 0,
      failureThreshold: 1,
      isFailure: () => {
        throw new Error("predicate bug")
      }
    })
    await expect(breaker.execute()).rejects.toBe(boom)
    expect(breaker.getState()).toBe("OPEN")
    expect(breaker.getMetrics().failureCalls).toBe(1)
    await breaker.dispose()
  })

  it("a retrySchedule whose step is asynchronous ends the call with the service's error", async () => {
    const boom = new Error("down")
    let calls = 0
    const breaker = createAdvancedCircuitBreaker(
      async () => {
        calls++
        return Promise.reject(boom)
      },
      { retrySchedule: Schedule.spaced("10 millis").pipe(Schedule.tapOutput(() => Effect.sleep("1 millis"))) }
    )
    await expect(breaker.execute()).rejects.toBe(boom)
    expect(calls).toBe(1)
    await breaker.dispose()
  })

  it("a result whose then getter throws is a failure of the function, and nothing stays registered", async () => {
    // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is what this test is about
    const hostile = Object.defineProperty({}, "then", {
      get() {
        throw new Error("then getter")
      }
    })
    const breaker = createAdvancedCircuitBreaker(() => hostile, { maxRetries: 0, failureThreshold: 1 })
    await expect(breaker.execute()).rejects.toThrow("then getter")
    expect(breaker.getState()).toBe("OPEN")
    const thrower = createAdvancedCircuitBreaker(
      () => ({
        // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is what this test is about
        then: () => {
          throw new Error("then method")
        }
      }),
      { maxRetries: 0 }
    )
    await expect(thrower.execute()).rejects.toThrow("then method")
    await breaker.dispose()
    await thrower.dispose()
  })
})
