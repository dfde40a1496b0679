/**
 * The cost of sharing circuits (issue 15): with 1,000 Redis-mode Promise breakers in one process, each called every
 * second and none changing state, the process holds one connection pair, its background traffic stays within 20
 * commands a second (counted by the server, `INFO commandstats`), and each breaker costs at most 2 KB of heap more
 * than an in-memory one.
 */
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import * as CircuitBreakerMetrics from "@circuit-breaker/core/CircuitBreakerMetrics"
import { type AdvancedCircuitBreaker, createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { Redis } from "ioredis"
import { afterAll, beforeAll, expect, it, vi } from "vitest"
import { describeWithRedis, type RedisServer, startRedisServer } from "./utils/RedisServer.js"

const CIRCUITS = 1000

/** Commands the server has run, all kinds but INFO (the test's own way of counting). */
const commandsRun = async (admin: Redis): Promise<number> => {
  const info = await admin.info("commandstats")
  let total = 0
  for (const match of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) if (match[1] !== "info") total += Number(match[2])
  return total
}

const connectionsOf = async (admin: Redis): Promise<number> =>
  Number(/connected_clients:(\d+)/.exec(await admin.info("clients"))![1]) - 1

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const gc = (() => {
  setFlagsFromString("--expose-gc")
  return runInNewContext("gc") as () => void
})()

const heapUsed = async (): Promise<number> => {
  for (let i = 0; i < 3; i++) {
    gc()
    await sleep(10)
  }
  return process.memoryUsage().heapUsed
}

/** Calls every breaker once. */
const callAll = (breakers: ReadonlyArray<AdvancedCircuitBreaker<[], string>>) =>
  Promise.all(breakers.map((breaker) => breaker.execute()))

describeWithRedis("the cost of 1,000 shared circuits", () => {
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

  it("one connection pair, background traffic within 20 commands a second, and at most 2 KB of heap a breaker", async () => {
    const fn = async () => "ok"
    // Effect metrics are in use here (effect/Metric is loaded): a Promise breaker's first count loads Effect's
    // metric modules, then its metrics attach. That load is the process's, once, like the store's code below:
    // done before the heap is measured, so that every breaker measured has its metrics attached at once.
    const warm = createAdvancedCircuitBreaker(fn, { name: "warm-up" })
    await warm.execute()
    const warmCalls = Metric.tagged(CircuitBreakerMetrics.effectMetrics.calls, "circuit", "warm-up")
    await vi.waitFor(() => expect(Effect.runSync(Metric.value(warmCalls)).count).toBe(1), { timeout: 20_000 })
    const memoryBase = await heapUsed()
    const local = Array.from({ length: CIRCUITS }, (_, i) => createAdvancedCircuitBreaker(fn, { name: `local-${i}` }))
    await callAll(local)
    const memoryPerBreaker = ((await heapUsed()) - memoryBase) / CIRCUITS

    const before = await connectionsOf(admin)
    const options = { distributedTracking: true, redis: server.url, store: { log: "silent" as const } }
    // The store's code and connections are the process's, once: opened before the heap is measured.
    const first = createAdvancedCircuitBreaker(fn, { ...options, name: "scale-first" })
    const deadline = Date.now() + 10_000
    while ((await first.getDistributedState()) === null && Date.now() < deadline) await sleep(10)
    await first.execute()
    const redisBase = await heapUsed()
    const shared = Array.from({ length: CIRCUITS }, (_, i) =>
      createAdvancedCircuitBreaker(fn, { ...options, name: `scale-${i}` })
    )
    shared.push(first)
    try {
      // Each circuit is read once when first used through the store; after that, only changes cost anything.
      await callAll(shared)
      await sleep(100)
      await callAll(shared)
      // Until every first read is done (the server's count of commands settles): reads in flight are no breaker's heap.
      for (let previous = -1, now = await commandsRun(admin); now - previous > 5 && Date.now() < deadline + 20_000; ) {
        await sleep(500)
        previous = now
        now = await commandsRun(admin)
      }
      const redisPerBreaker = ((await heapUsed()) - redisBase) / CIRCUITS
      expect(redisPerBreaker - memoryPerBreaker).toBeLessThan(2048)
      expect((await connectionsOf(admin)) - before).toBe(2)

      const start = await commandsRun(admin)
      const t0 = Date.now()
      for (let second = 0; second < 3; second++) {
        await callAll(shared)
        await sleep(1000)
      }
      const perSecond = ((await commandsRun(admin)) - start) / ((Date.now() - t0) / 1000)
      expect(perSecond).toBeLessThanOrEqual(20)
      console.log(
        `1,000 circuits: ${perSecond.toFixed(1)} commands/s, heap ${Math.round(redisPerBreaker)} B per Redis-mode breaker against ${Math.round(memoryPerBreaker)} B in memory`
      )
    } finally {
      await Promise.all(shared.map((breaker) => breaker.dispose()))
      await Promise.all(local.map((breaker) => breaker.dispose()))
    }
  }, 60_000)
})
