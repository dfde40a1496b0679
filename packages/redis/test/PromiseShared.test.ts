/**
 * The Promise API's shared store (issue 15): one connection pair per process per Redis target, reference-counted;
 * each breaker keeps its own `whenUnavailable`; one circuit named with other options is a config error; the store
 * options (issue 12, item 9); and an undisposed breaker never keeps its process alive (issue 12, item 6).
 */
import {
  CircuitBreakerConfigError,
  CircuitOpenError,
  createAdvancedCircuitBreaker,
  createCircuitBreakerManager,
  type StoreLogEntry
} from "@circuit-breaker/promise"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { monitorEventLoopLag } from "./utils/busyMachine.js"
import { describeWithRedis, type RedisServer, startRedisServer } from "./utils/RedisServer.js"
import { runUndisposed } from "./utils/undisposed.js"

const eventually = async (check: () => boolean | Promise<boolean>, within = 3000): Promise<number> => {
  const start = Date.now()
  while (Date.now() - start < within) {
    if (await check()) return Date.now() - start
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error(`condition not met within ${within} ms`)
}

/** Connections the server holds, not counting the test's own. */
const connectionsOf = async (admin: Redis): Promise<number> => {
  const info = await admin.info("clients")
  return Number(/connected_clients:(\d+)/.exec(info)![1]) - 1
}

/** Silent, and with a store timeout a loaded machine does not reach (tests about timeouts set their own). */
const quiet = { log: "silent" as const, storeTimeout: 2_000 }

describeWithRedis("the Promise API's shared store", () => {
  let server: RedisServer
  let admin: Redis
  beforeAll(async () => {
    server = await startRedisServer()
    admin = new Redis(server.url)
  })
  afterAll(async () => {
    await admin.quit()
    await server.stop()
  })

  it("breakers naming one target share one connection pair, closed when the last is disposed", async () => {
    const options = { distributedTracking: true, redis: server.url, maxRetries: 0, store: quiet }
    const before = await connectionsOf(admin)
    const breakers = Array.from({ length: 5 }, (_, i) =>
      createAdvancedCircuitBreaker(async () => i, { ...options, name: `shared-${i}`, failureThreshold: 1 })
    )
    await eventually(async () => (await breakers[0]!.getDistributedState()) !== null)
    expect((await connectionsOf(admin)) - before).toBe(2)
    // One disposed while the others keep using the store: they still share their circuits with other processes.
    await breakers[0]!.dispose()
    expect((await connectionsOf(admin)) - before).toBe(2)
    const elsewhere = createAdvancedCircuitBreaker(async () => Promise.reject(new Error("down")), {
      ...options,
      name: "shared-1",
      failureThreshold: 1,
      redis: `${server.url}/0`
    })
    await eventually(async () => (await elsewhere.getDistributedState()) !== null)
    await expect(elsewhere.execute()).rejects.toThrow("down")
    await eventually(() => breakers[1]!.getState() === "OPEN")
    await expect(breakers[1]!.execute()).rejects.toBeInstanceOf(CircuitOpenError)
    await elsewhere.dispose()
    for (const breaker of breakers.slice(1)) await breaker.dispose()
    await eventually(async () => (await connectionsOf(admin)) === before)
  })

  it("a manager's breakers share the store too, and clear() closes it", async () => {
    const before = await connectionsOf(admin)
    const manager = createCircuitBreakerManager()
    const options = { distributedTracking: true, redis: server.url, store: quiet }
    const breakers = Array.from({ length: 20 }, (_, i) => manager.register(`managed-${i}`, async () => i, options))
    await eventually(async () => (await breakers[0]!.getDistributedState()) !== null)
    expect((await connectionsOf(admin)) - before).toBe(2)
    await manager.clear()
    await eventually(async () => (await connectionsOf(admin)) === before)
  })

  it("breakers on one store keep their own whenUnavailable", async () => {
    const common = { distributedTracking: true, redis: server.url, maxRetries: 0, timeout: false as const }
    const rejecting = createAdvancedCircuitBreaker(async () => "ok", {
      ...common,
      name: "policy-reject",
      store: { ...quiet, whenUnavailable: "reject", storeTimeout: 100 }
    })
    const allowing = createAdvancedCircuitBreaker(async () => "ok", {
      ...common,
      name: "policy-allow",
      store: { ...quiet, whenUnavailable: "allow", storeTimeout: 100 }
    })
    try {
      await eventually(async () => (await rejecting.getDistributedState()) !== null)
      await expect(rejecting.execute()).resolves.toBe("ok")
      server.freeze()
      try {
        await eventually(async () => (await rejecting.execute().catch((e) => e)) instanceof CircuitOpenError, 5000)
        await expect(allowing.execute()).resolves.toBe("ok")
      } finally {
        server.thaw()
      }
    } finally {
      await rejecting.dispose()
      await allowing.dispose()
    }
  })

  it("one circuit named twice with other state-shaping options is a config error; the same options share it", async () => {
    const options = { distributedTracking: true, redis: server.url, name: "twice", store: quiet }
    const first = createAdvancedCircuitBreaker(async () => 1, { ...options, failureThreshold: 3 })
    const same = createAdvancedCircuitBreaker(async () => 2, { ...options, failureThreshold: 3, maxRetries: 0 })
    try {
      expect(() => createAdvancedCircuitBreaker(async () => 3, { ...options, failureThreshold: 4 })).toThrow(
        CircuitBreakerConfigError
      )
    } finally {
      await first.dispose()
      await same.dispose()
    }
    // Once both are disposed, the name is free again.
    const later = createAdvancedCircuitBreaker(async () => 3, { ...options, failureThreshold: 4 })
    await later.dispose()
  })

  describe("store options", () => {
    it("prefix, storeTimeout and log reach the store; bad values are config errors naming them", async () => {
      const logs: Array<StoreLogEntry> = []
      const breaker = createAdvancedCircuitBreaker(async () => Promise.reject(new Error("down")), {
        distributedTracking: true,
        redis: server.url,
        name: "prefixed",
        failureThreshold: 1,
        maxRetries: 0,
        store: { prefix: "app1:", storeTimeout: 150, log: (entry) => logs.push(entry) }
      })
      try {
        await eventually(async () => (await breaker.getDistributedState()) !== null)
        await expect(breaker.execute()).rejects.toThrow("down")
        await eventually(async () => (await admin.exists("app1:{prefixed}:s")) === 1)
        expect(logs.some((entry) => entry.message.includes("Redis reachable"))).toBe(true)
        server.freeze()
        // The bound counts the time this process could run (see busyMachine.ts).
        const lag = monitorEventLoopLag()
        try {
          const t0 = Date.now()
          await expect(breaker.getDistributedState()).rejects.toThrow()
          expect(await lag.runningSince(t0)).toBeLessThan(1000)
        } finally {
          lag.stop()
          server.thaw()
        }
      } finally {
        await breaker.dispose()
      }
      for (const store of [
        { prefix: "" },
        { whenUnavailable: "sometimes" },
        { storeTimeout: -1 },
        { log: "loud" }
      ] as const) {
        const make = () =>
          createAdvancedCircuitBreaker(async () => 1, {
            name: "bad-store",
            distributedTracking: true,
            redis: server.url,
            store
          } as never)
        expect(make).toThrow(CircuitBreakerConfigError)
        expect(make).toThrow(`store.${Object.keys(store)[0]}`)
      }
      expect(() => createAdvancedCircuitBreaker(async () => 1, { store: { prefix: "x:" } })).toThrow(
        CircuitBreakerConfigError
      )
    })
  })

  for (const redis of ["up", "down"] as const) {
    it(`an undisposed Redis-mode breaker does not keep its process alive (Redis ${redis})`, async () => {
      const url = redis === "up" ? server.url : "redis://127.0.0.1:1"
      const { output, exited } = await runUndisposed(url)
      expect(output).toContain("called")
      expect(exited).toBe(true)
    }, 30_000)
  }
})
