import { createAdvancedCircuitBreaker, type LogEntry } from "@circuit-breaker/promise"
import { afterAll, afterEach, beforeAll, expect, it, vi } from "vitest"
import { describeWithRedis, type RedisServer, startRedisServer } from "./utils/RedisServer.js"

/** Polls `check` in real time until it holds, for at most `within` ms. */
const eventually = async (check: () => boolean | Promise<boolean>, within = 5000): Promise<void> => {
  const start = Date.now()
  while (Date.now() - start < within) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error(`condition not met within ${within} ms`)
}

describeWithRedis("the Promise API's logger, with distributedTracking", () => {
  let server: RedisServer
  beforeAll(async () => {
    server = await startRedisServer()
  })
  afterAll(async () => {
    await server.stop()
  })
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it("the shared store's news go to the logger, and nothing to stdout", async () => {
    const stdout = vi.spyOn(process.stdout, "write")
    const entries: Array<LogEntry> = []
    const breaker = createAdvancedCircuitBreaker(async () => "ok", {
      name: "logger-store",
      distributedTracking: true,
      redis: server.url,
      logger: (entry: LogEntry) => entries.push(entry)
    })
    try {
      await eventually(() => entries.some((entry) => entry.message.includes("Redis reachable")))
      const reachable = entries.find((entry) => entry.message.includes("Redis reachable"))
      expect(reachable).toMatchObject({ level: "info", circuit: "logger-store" })
      expect(stdout).not.toHaveBeenCalled()
    } finally {
      await breaker.dispose()
    }
  })

  it("without a logger, the store logs nothing", async () => {
    const stdout = vi.spyOn(process.stdout, "write")
    const consoleLog = vi.spyOn(console, "log")
    const breaker = createAdvancedCircuitBreaker(async () => "ok", {
      name: "silent-store",
      distributedTracking: true,
      redis: server.url
    })
    try {
      await eventually(async () => (await breaker.getDistributedState()) !== null)
      await breaker.execute()
      expect(stdout).not.toHaveBeenCalled()
      expect(consoleLog).not.toHaveBeenCalled()
    } finally {
      await breaker.dispose()
    }
  })
})
