import { afterEach, describe, expect, it, vi } from "vitest"
import { CircuitBreakerConfigError, createAdvancedCircuitBreaker, type LogEntry } from "../src/index.js"

const trip = async (options: Record<string, unknown>) => {
  const breaker = createAdvancedCircuitBreaker(() => Promise.reject(new Error("down")), {
    name: "logged",
    failureThreshold: 1,
    maxRetries: 0,
    ...options
  })
  await expect(breaker.execute()).rejects.toThrow("down")
  expect(breaker.getState()).toBe("OPEN")
  await breaker.dispose()
}

describe("the Promise API's logger option", () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it("logs nothing by default", async () => {
    const spies = (["log", "debug", "info", "warn", "error"] as const).map((level) => vi.spyOn(console, level))
    const stdout = vi.spyOn(process.stdout, "write")
    await trip({})
    for (const spy of [...spies, stdout]) expect(spy).not.toHaveBeenCalled()
  })

  it("gives a function every change of state, at info", async () => {
    const entries: Array<LogEntry> = []
    await trip({ logger: (entry: LogEntry) => entries.push(entry) })
    expect(entries).toEqual([
      {
        level: "info",
        message: "circuit CLOSED -> OPEN",
        circuit: "logged",
        time: expect.any(Number),
        annotations: { from: "CLOSED", to: "OPEN" }
      }
    ])
  })

  it("writes to a console at the entry's level", async () => {
    const lines: Array<ReadonlyArray<unknown>> = []
    const record =
      (level: string) =>
      (...args: ReadonlyArray<unknown>) =>
        lines.push([level, ...args])
    await trip({
      logger: { debug: record("debug"), info: record("info"), warn: record("warn"), error: record("error") }
    })
    expect(lines).toEqual([["info", "circuit-breaker logged: circuit CLOSED -> OPEN", { from: "CLOSED", to: "OPEN" }]])
  })

  it("a logger that throws never breaks a call", async () => {
    await trip({
      logger: () => {
        throw new Error("logger down")
      }
    })
  })

  it("anything else is a config error naming logger, and nothing is created", () => {
    for (const logger of [42, "console", { info: () => {} }, null]) {
      expect(() => createAdvancedCircuitBreaker(async () => 1, { logger: logger as never })).toThrow(
        expect.objectContaining({ option: "logger" })
      )
    }
    expect(() => createAdvancedCircuitBreaker(async () => 1, { logger: 42 as never })).toThrow(
      CircuitBreakerConfigError
    )
  })
})
