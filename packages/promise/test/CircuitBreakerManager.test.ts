import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it, vi } from "vitest"
import {
  CircuitBreakerConfigError,
  CircuitBreakerDisposedError,
  CircuitBreakerManager,
  CircuitOpenError,
  createAdvancedCircuitBreaker,
  createCircuitBreakerManager
} from "../src/index.js"

const rejectionOf = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error("expected the promise to reject, but it resolved")
}

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

afterEach(async () => {
  await CircuitBreakerManager.clear()
  vi.restoreAllMocks()
})

describe("specification example (default manager)", () => {
  it("register, get(...)?.execute(), aggregateMetrics()", async () => {
    const processPayment = vi.fn(async () => ({ paid: true }))
    CircuitBreakerManager.register("payment-service", () => processPayment(), { failureThreshold: 5 })
    const result = await CircuitBreakerManager.get("payment-service")?.execute()
    expect(result).toEqual({ paid: true })
    expect(processPayment).toHaveBeenCalledTimes(1)
    const metrics = await CircuitBreakerManager.aggregateMetrics()
    expect(Object.keys(metrics.circuits)).toEqual(["payment-service"])
    expect(metrics.circuits["payment-service"]).toMatchObject({ totalCalls: 1, successCalls: 1, state: "CLOSED" })
    expect(metrics.totals).toEqual({
      totalCalls: 1,
      successCalls: 1,
      failureCalls: 0,
      rejectedCalls: 0,
      timeoutCalls: 0
    })
    expect(metrics.openCircuits).toEqual([])
  })

  it("clear() empties the default manager and disposes its breakers", async () => {
    const breaker = CircuitBreakerManager.register("to-clear", () => 1)
    await CircuitBreakerManager.clear()
    expect(CircuitBreakerManager.names()).toEqual([])
    expect(CircuitBreakerManager.has("to-clear")).toBe(false)
    expect(await rejectionOf(breaker.execute())).toBeInstanceOf(CircuitBreakerDisposedError)
  })

  it("register with distributedTracking: true and no Redis configured throws naming redis, and registers nothing", () => {
    vi.stubEnv("REDIS_URL", "")
    const cwd = vi.spyOn(process, "cwd").mockReturnValue(mkdtempSync(join(tmpdir(), "no-dotenv-")))
    try {
      const error = configErrorOf(() =>
        CircuitBreakerManager.register("distributed", () => 1, { distributedTracking: true })
      )
      expect(error.option).toBe("redis")
      expect(CircuitBreakerManager.has("distributed")).toBe(false)
    } finally {
      cwd.mockRestore()
      vi.unstubAllEnvs()
    }
  })
})

describe("createCircuitBreakerManager", () => {
  it("register returns the breaker; its name becomes the name and serviceId", async () => {
    const manager = createCircuitBreakerManager()
    const boom = new Error("declined")
    const breaker = manager.register("payments", async (_amount: number) => Promise.reject(boom), { maxRetries: 0 })
    expect(breaker.name).toBe("payments")
    expect(manager.get("payments")).toBe(breaker)
    expect(await rejectionOf(breaker.execute(10))).toBe(boom)
    const failure = breaker.getMetrics().lastFailures[0]!
    expect(failure.serviceId).toBe("payments")
    expect(failure.circuit).toBe("payments")
    await manager.clear()
  })

  it("an explicit serviceId option wins over the name", async () => {
    const manager = createCircuitBreakerManager()
    const breaker = manager.register("n", () => Promise.reject(new Error("x")), { serviceId: "svc", maxRetries: 0 })
    await rejectionOf(breaker.execute())
    expect(breaker.getMetrics().lastFailures[0]).toMatchObject({ serviceId: "svc", circuit: "n" })
    await manager.clear()
  })

  it("passes arguments through get(name)?.execute(...args)", async () => {
    const manager = createCircuitBreakerManager()
    manager.register("adder", (a: number, b: number) => a + b)
    await expect(manager.get("adder")?.execute(2, 3)).resolves.toBe(5)
    await manager.clear()
  })

  it("get returns undefined and has returns false for an unknown name", () => {
    const manager = createCircuitBreakerManager()
    expect(manager.get("nope")).toBeUndefined()
    expect(manager.has("nope")).toBe(false)
    manager.register("yes", () => 1)
    expect(manager.has("yes")).toBe(true)
    expect(manager.has("nope")).toBe(false)
  })

  it("names() lists the registered names in registration order", async () => {
    const manager = createCircuitBreakerManager()
    expect(manager.names()).toEqual([])
    manager.register("b", () => 1)
    manager.register("a", () => 1)
    manager.register("c", () => 1)
    expect(manager.names()).toEqual(["b", "a", "c"])
    await manager.unregister("a")
    expect(manager.names()).toEqual(["b", "c"])
    await manager.clear()
  })

  it("unregister disposes the breaker and returns true; false for an unknown name", async () => {
    const manager = createCircuitBreakerManager()
    const fn = vi.fn(() => "x")
    const breaker = manager.register("gone", fn)
    await expect(breaker.execute()).resolves.toBe("x")
    await expect(manager.unregister("gone")).resolves.toBe(true)
    expect(manager.has("gone")).toBe(false)
    expect(manager.get("gone")).toBeUndefined()
    const error = await rejectionOf(breaker.execute())
    expect(error).toBeInstanceOf(CircuitBreakerDisposedError)
    expect((error as CircuitBreakerDisposedError).circuit).toBe("gone")
    expect(fn).toHaveBeenCalledTimes(1)
    await expect(manager.unregister("gone")).resolves.toBe(false)
    await expect(manager.unregister("never-registered")).resolves.toBe(false)
  })

  it("a name freed by unregister can be registered again", async () => {
    const manager = createCircuitBreakerManager()
    manager.register("again", () => 1)
    await manager.unregister("again")
    const second = manager.register("again", () => 2)
    await expect(manager.get("again")?.execute()).resolves.toBe(2)
    expect(manager.get("again")).toBe(second)
    await manager.clear()
  })

  it("managers are isolated from each other and from the default one", async () => {
    const m1 = createCircuitBreakerManager()
    const m2 = createCircuitBreakerManager()
    m1.register("shared-name", () => 1)
    expect(() => m2.register("shared-name", () => 2)).not.toThrow()
    expect(CircuitBreakerManager.has("shared-name")).toBe(false)
    await expect(m1.get("shared-name")?.execute()).resolves.toBe(1)
    await expect(m2.get("shared-name")?.execute()).resolves.toBe(2)
    // separate circuits: tripping one leaves the other closed
    const b1 = m1.register("c", () => Promise.reject(new Error("x")), { failureThreshold: 1, maxRetries: 0 })
    const b2 = m2.register("c", () => Promise.resolve("ok"), { failureThreshold: 1, maxRetries: 0 })
    await rejectionOf(b1.execute())
    expect(b1.getState()).toBe("OPEN")
    await expect(b2.execute()).resolves.toBe("ok")
    expect(b2.getState()).toBe("CLOSED")
    await m1.clear()
    expect(m2.names()).toEqual(["shared-name", "c"])
    await m2.clear()
  })

  it("aggregateMetrics() sums the counters and lists the open circuits", async () => {
    const manager = createCircuitBreakerManager()
    const ok = manager.register("ok", async () => "fine")
    const down = manager.register("down", async () => Promise.reject(new Error("down")), {
      failureThreshold: 2,
      maxRetries: 0,
      resetTimeout: 30000
    })
    const slow = manager.register("slow", () => new Promise<never>(() => {}), { timeout: 20, maxRetries: 0 })
    const flaky = manager.register("flaky", async () => Promise.reject(new Error("flaky")), {
      failureThreshold: 10,
      maxRetries: 0
    })

    await ok.execute()
    await ok.execute()
    await ok.execute()
    await rejectionOf(down.execute())
    await rejectionOf(down.execute()) // opens
    expect(await rejectionOf(down.execute())).toBeInstanceOf(CircuitOpenError)
    expect(await rejectionOf(down.execute())).toBeInstanceOf(CircuitOpenError)
    await rejectionOf(slow.execute()) // timeout
    await rejectionOf(flaky.execute())

    const metrics = await manager.aggregateMetrics()
    expect(Object.keys(metrics.circuits).sort()).toEqual(["down", "flaky", "ok", "slow"])
    expect(metrics.circuits.ok).toMatchObject({ totalCalls: 3, successCalls: 3, state: "CLOSED" })
    expect(metrics.circuits.down).toMatchObject({ totalCalls: 4, failureCalls: 4, rejectedCalls: 2, state: "OPEN" })
    expect(metrics.circuits.slow).toMatchObject({ totalCalls: 1, failureCalls: 1, timeoutCalls: 1 })
    expect(metrics.circuits.down).toEqual(down.getMetrics())
    const sum = (key: "totalCalls" | "successCalls" | "failureCalls" | "rejectedCalls" | "timeoutCalls") =>
      Object.values(metrics.circuits).reduce((acc, m) => acc + m[key], 0)
    expect(metrics.totals).toEqual({
      totalCalls: sum("totalCalls"),
      successCalls: sum("successCalls"),
      failureCalls: sum("failureCalls"),
      rejectedCalls: sum("rejectedCalls"),
      timeoutCalls: sum("timeoutCalls")
    })
    expect(metrics.totals).toEqual({
      totalCalls: 9,
      successCalls: 3,
      failureCalls: 6,
      rejectedCalls: 2,
      timeoutCalls: 1
    })
    expect(metrics.openCircuits).toEqual(["down"])
    await manager.clear()
  })

  it("aggregateMetrics() returns a Promise and reports an empty manager as zeros", async () => {
    const manager = createCircuitBreakerManager()
    const p = manager.aggregateMetrics()
    expect(p).toBeInstanceOf(Promise)
    await expect(p).resolves.toEqual({
      circuits: {},
      totals: { totalCalls: 0, successCalls: 0, failureCalls: 0, rejectedCalls: 0, timeoutCalls: 0 },
      openCircuits: []
    })
  })

  it("aggregateMetrics() leaves out an unregistered breaker and reports HALF_OPEN circuits as not open", async () => {
    const manager = createCircuitBreakerManager()
    const a = manager.register("a", () => Promise.reject(new Error("x")), {
      failureThreshold: 1,
      maxRetries: 0,
      resetTimeout: 20
    })
    manager.register("b", () => 1)
    await rejectionOf(a.execute())
    expect((await manager.aggregateMetrics()).openCircuits).toEqual(["a"])
    await new Promise((r) => setTimeout(r, 40))
    const later = await manager.aggregateMetrics()
    expect(later.circuits.a!.state).toBe("HALF_OPEN")
    expect(later.openCircuits).toEqual([])
    await manager.unregister("a")
    expect(Object.keys((await manager.aggregateMetrics()).circuits)).toEqual(["b"])
    await manager.clear()
  })

  it("clear() disposes every breaker of that manager only", async () => {
    const manager = createCircuitBreakerManager()
    const other = createCircuitBreakerManager()
    const a = manager.register("a", () => 1)
    const b = manager.register("b", () => 2)
    const c = other.register("a", () => 3)
    await manager.clear()
    expect(manager.names()).toEqual([])
    expect(await rejectionOf(a.execute())).toBeInstanceOf(CircuitBreakerDisposedError)
    expect(await rejectionOf(b.execute())).toBeInstanceOf(CircuitBreakerDisposedError)
    await expect(c.execute()).resolves.toBe(3)
    await other.clear()
  })
})

describe("register: bad input", () => {
  it.each([
    ["an empty string", ""],
    ["blanks", "   "],
    ["a number", 42],
    ["undefined", undefined],
    ["null", null],
    ["an object", { name: "x" }]
  ])('a name that is %s throws naming "name", and registers nothing', (_label, name) => {
    const manager = createCircuitBreakerManager()
    const fn = vi.fn()
    const error = configErrorOf(() => manager.register(name as any, fn))
    expect(error.option).toBe("name")
    expect(error.message).toContain("name")
    expect(manager.names()).toEqual([])
    expect(fn).not.toHaveBeenCalled()
  })

  it("a taken name throws (the message mentions it) and the first breaker remains", async () => {
    const manager = createCircuitBreakerManager()
    const first = manager.register("payments", () => "first")
    const error = configErrorOf(() => manager.register("payments", () => "second"))
    expect(error.option).toBe("name")
    expect(error.message).toContain("payments")
    expect(error.message).toMatch(/already registered/)
    expect(manager.get("payments")).toBe(first)
    expect(manager.names()).toEqual(["payments"])
    await expect(manager.get("payments")?.execute()).resolves.toBe("first")
    await manager.clear()
  })

  it('fn that is not a function throws naming "fn", and registers nothing', () => {
    const manager = createCircuitBreakerManager()
    const error = configErrorOf(() => manager.register("svc", "not a function" as any))
    expect(error.option).toBe("fn")
    expect(manager.has("svc")).toBe(false)
  })

  it("an invalid option value throws naming it, and registers nothing", () => {
    const manager = createCircuitBreakerManager()
    const error = configErrorOf(() => manager.register("svc", () => 1, { failureThreshold: 0 }))
    expect(error.option).toBe("failureThreshold")
    expect(error.message).toContain("failureThreshold")
    expect(manager.has("svc")).toBe(false)
  })

  it("an unknown option throws naming it, and registers nothing", () => {
    const manager = createCircuitBreakerManager()
    const error = configErrorOf(() => manager.register("svc", () => 1, { failureThreshhold: 5 } as any))
    expect(error.option).toBe("failureThreshhold")
    expect(manager.has("svc")).toBe(false)
  })

  it.each([
    ["a number", 5],
    ["a string", "opts"],
    ["null", null],
    ["an empty array", []],
    ["a non-empty array", [1]]
  ])('options that are %s throw naming "options", and register nothing', (_label, options) => {
    const manager = createCircuitBreakerManager()
    const error = configErrorOf(() => manager.register("svc", () => 1, options as any))
    expect(error.option).toBe("options")
    expect(manager.has("svc")).toBe(false)
  })

  it("a failed register does not disturb a later valid one", async () => {
    const manager = createCircuitBreakerManager()
    expect(() => manager.register("svc", () => 1, { failureThreshold: -1 })).toThrow(CircuitBreakerConfigError)
    const breaker = manager.register("svc", () => 1)
    await expect(breaker.execute()).resolves.toBe(1)
    await manager.clear()
  })

  it("a breaker made by createAdvancedCircuitBreaker is not registered anywhere", () => {
    createAdvancedCircuitBreaker(() => 1, { name: "standalone" })
    expect(CircuitBreakerManager.has("standalone")).toBe(false)
  })
})
