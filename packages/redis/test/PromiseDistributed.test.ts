import { CircuitOpenError, createAdvancedCircuitBreaker, createCircuitBreakerManager } from "@circuit-breaker/promise"
import { afterAll, beforeAll, expect, it } from "vitest"
import { monitorEventLoopLag, PATIENCE } from "./utils/busyMachine.js"
import { describeWithRedis, type RedisServer, startRedisServer } from "./utils/RedisServer.js"

/**
 * Polls `check` in real time until it holds, for at most `within` ms. A check that rejects (a read of Redis that timed
 * out on a loaded machine) has not held yet.
 */
const eventually = async (check: () => boolean | Promise<boolean>, within = 2000): Promise<number> => {
  const start = Date.now()
  while (Date.now() - start < within) {
    if (await Promise.resolve(check()).catch(() => false)) return Date.now() - start
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error(`condition not met within ${within} ms`)
}

describeWithRedis("Promise API with distributedTracking", () => {
  let server: RedisServer
  beforeAll(async () => {
    server = await startRedisServer()
  })
  afterAll(async () => {
    await server.stop()
  })

  // Waits for a store to be ready (its first read, each within the store timeout) take PATIENCE: a loaded machine
  // can be slow to get there, and readiness is not what these tests assert.
  it("isolate() in one breaker holds the shared circuit OPEN in the other, past resetTimeout, until released", async () => {
    const options = { distributedTracking: true, redis: server.url, resetTimeout: 50, name: "isolated-shared" }
    const a = createAdvancedCircuitBreaker(async () => "a", options)
    const b = createAdvancedCircuitBreaker(async () => "b", options)
    try {
      await eventually(
        async () => (await a.getDistributedState()) !== null && (await b.getDistributedState()) !== null,
        PATIENCE
      )
      const handle = a.isolate()
      await eventually(() => b.getState() === "OPEN", 1000)
      await new Promise((resolve) => setTimeout(resolve, 120))
      expect(b.getState()).toBe("OPEN")
      await expect(b.execute()).rejects.toBeInstanceOf(CircuitOpenError)
      handle.release()
      await eventually(() => b.getState() === "CLOSED", 1000)
      await expect(b.execute()).resolves.toBe("b")
    } finally {
      await a.dispose()
      await b.dispose()
    }
  })

  it("two processes' breakers share one circuit: a trip in one rejects in the other", async () => {
    const boom = new Error("card declined")
    const options = { distributedTracking: true, redis: server.url, failureThreshold: 2, maxRetries: 0, name: "pay" }
    const a = createAdvancedCircuitBreaker(async () => Promise.reject(boom), options)
    // Another process: breakers naming the same target in one process share one store, so b names it otherwise.
    const b = createAdvancedCircuitBreaker(async () => "ok", { ...options, redis: `${server.url}/0` })
    try {
      // The shared store opens in the background; calls before that decide locally.
      await eventually(async () => (await a.getDistributedState()) !== null, PATIENCE)
      await eventually(async () => (await b.getDistributedState()) !== null, PATIENCE)
      await expect(a.execute()).rejects.toBe(boom)
      await expect(a.execute()).rejects.toBe(boom)
      expect(a.getState()).toBe("OPEN")
      await eventually(() => b.getState() === "OPEN", 1000)
      await expect(b.execute()).rejects.toBeInstanceOf(CircuitOpenError)
      const shared = await b.getDistributedState()
      expect(shared).toMatchObject({ circuit: "pay", state: "OPEN", failureCount: 0 })
      expect(typeof shared?.openedAt).toBe("number")
      expect(typeof shared?.updatedBy).toBe("string")
    } finally {
      await a.dispose()
      await b.dispose()
    }
  })

  it("getDistributedState().failureCount is the shared window's failures with a window rule", async () => {
    let fail = true
    const options = {
      distributedTracking: true,
      redis: server.url,
      maxRetries: 0,
      name: "window-count",
      failureRateThreshold: 50,
      slidingWindowSize: 10,
      minimumNumberOfCalls: 10
    }
    const a = createAdvancedCircuitBreaker(async () => (fail ? Promise.reject(new Error("down")) : "ok"), options)
    const b = createAdvancedCircuitBreaker(async () => (fail ? Promise.reject(new Error("down")) : "ok"), {
      ...options,
      redis: `${server.url}/0`
    })
    try {
      await eventually(
        async () => (await a.getDistributedState()) !== null && (await b.getDistributedState()) !== null,
        PATIENCE
      )
      // Failures, then a success, then a failure: not consecutive, still counted by the window.
      await expect(a.execute()).rejects.toThrow("down")
      await expect(a.execute()).rejects.toThrow("down")
      fail = false
      await expect(a.execute()).resolves.toBe("ok")
      fail = true
      await expect(b.execute()).rejects.toThrow("down")
      // Counts go out in batches: both instances' reach Redis.
      await eventually(async () => (await a.getDistributedState())?.failureCount === 3, PATIENCE)
      // Each read may time out on a loaded machine (the store timeout): read until one answers.
      let seen: unknown
      await eventually(async () => {
        seen = await b.getDistributedState()
        return true
      }, PATIENCE)
      expect(seen).toMatchObject({ state: "CLOSED", failureCount: 3 })
    } finally {
      await a.dispose()
      await b.dispose()
    }
  })

  it("a caller that aborts while Redis admits its Half-Open trial: fn is not called, and the slot goes back", async () => {
    const calls: Array<string> = []
    let failing = true
    const options = {
      distributedTracking: true,
      redis: server.url,
      failureThreshold: 1,
      successThreshold: 1,
      resetTimeout: 100,
      maxRetries: 0,
      name: "aborted-trial"
    }
    const breaker = createAdvancedCircuitBreaker(async () => {
      calls.push("called")
      if (failing) throw new Error("down")
      return "ok"
    }, options)
    try {
      await eventually(async () => (await breaker.getDistributedState()) !== null, PATIENCE)
      await expect(breaker.execute()).rejects.toThrow("down")
      await eventually(() => breaker.getState() === "HALF_OPEN", 1000)
      failing = false
      calls.length = 0
      const controller = new AbortController()
      const reason = new Error("caller gave up")
      // The trial's admission goes to Redis (a round trip); the abort lands before it returns.
      const aborted = breaker.executeWith({ signal: controller.signal })
      controller.abort(reason)
      await expect(aborted).rejects.toBe(reason)
      expect(calls).toEqual([])
      // The slot was given back: the next caller is admitted as the trial, and closes the circuit.
      await expect(breaker.execute()).resolves.toBe("ok")
      expect(breaker.getState()).toBe("CLOSED")
    } finally {
      await breaker.dispose()
    }
  })

  it("aggregateMetrics reports what Redis holds for circuits of other processes", async () => {
    const here = createCircuitBreakerManager()
    const elsewhere = createCircuitBreakerManager()
    const options = { distributedTracking: true, redis: server.url, failureThreshold: 1, maxRetries: 0 }
    const mine = here.register("orders", async () => "ok", options)
    const theirs = elsewhere.register("inventory", async () => Promise.reject(new Error("down")), options)
    try {
      await eventually(async () => (await theirs.getDistributedState()) !== null, PATIENCE)
      await expect(theirs.execute()).rejects.toThrow("down")
      await mine.execute()
      await eventually(async () => (await here.aggregateMetrics()).sharedCircuits?.inventory?.state === "OPEN")
      const metrics = await here.aggregateMetrics()
      expect(Object.keys(metrics.circuits)).toEqual(["orders"])
      expect(metrics.sharedCircuits?.orders).toBeUndefined()
    } finally {
      await here.clear()
      await elsewhere.clear()
    }
  })

  it("getDistributedState rejects within the store timeout when Redis cannot be reached", async () => {
    const dead = await startRedisServer()
    await dead.kill()
    const breaker = createAdvancedCircuitBreaker(async () => "ok", {
      name: "unreachable",
      distributedTracking: true,
      redis: dead.url
    })
    // The bound counts the time this process could run (see busyMachine.ts).
    const lag = monitorEventLoopLag()
    try {
      const t0 = Date.now()
      await expect(breaker.getDistributedState()).rejects.toMatchObject({ _tag: "CircuitStoreError" })
      expect(await lag.runningSince(t0)).toBeLessThan(1000)
      // Calls go on, decided locally.
      await expect(breaker.execute()).resolves.toBe("ok")
    } finally {
      lag.stop()
      await breaker.dispose()
    }
  })
})
