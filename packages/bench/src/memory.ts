/**
 * Memory, measured in a fresh child process per (library, count) so that heaps do not
 * mix: heap and ArrayBuffer memory per idle breaker, timers per breaker, and the heap
 * growth of one breaker over 1,000,000 calls. Each child prints one JSON line.
 */

import { getHeapSpaceStatistics } from "node:v8"
import { CircuitBreaker } from "@circuit-breaker/core"
import { type CallContext, createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
import { ConsecutiveBreaker, circuitBreaker, handleAll } from "cockatiel"
import * as Effect from "effect/Effect"
import Opossum from "opossum"
import { activeTimeouts, liveTimers } from "./timers.js"

const gc = (): void => (globalThis as { gc?: () => void }).gc!()
const fn = async (): Promise<number> => 42
const noop = (): void => {}

export const memoryKinds = ["ours-promise", "ours-effect", "opossum", "cockatiel"] as const
export type MemoryKind = (typeof memoryKinds)[number]

export interface MemorySample {
  readonly kind: MemoryKind
  readonly count: number
  /** `heapUsed` growth per breaker, bytes. */
  readonly heapPerBreaker: number
  /** `arrayBuffers` growth per breaker (backing stores outside the JS heap), bytes. */
  readonly buffersPerBreaker: number
  readonly createNs: number
  /** Timers that keep the process alive (`process.getActiveResourcesInfo()` "Timeout"), per breaker. */
  readonly refTimersPerBreaker: number
  /** Live timers, unref'd ones included, per breaker. */
  readonly allTimersPerBreaker: number
}

export interface HeapPoint {
  /** Calls made so far. */
  readonly calls: number
  /** heapUsed without the code spaces, plus ArrayBuffers: the data the process holds, bytes. */
  readonly data: number
  /** The code spaces (JIT-compiled code and its metadata), bytes. */
  readonly code: number
}

export interface GrowthSample {
  readonly points: ReadonlyArray<HeapPoint>
  readonly failedAttempts: number
  readonly lastFailures: number
  readonly totalCalls: number
  readonly seconds: number
}

interface Kit {
  readonly create: (i: number) => unknown
  readonly close: (breaker: unknown) => unknown
}

const kits: Record<MemoryKind, Kit> = {
  "ours-promise": {
    create: (i) => createAdvancedCircuitBreaker(fn, { name: `svc-${i}` }),
    close: (b) => (b as ReturnType<typeof createAdvancedCircuitBreaker>).dispose()
  },
  "ours-effect": {
    create: (i) => Effect.runSync(CircuitBreaker.make({ name: `svc-${i}` })),
    close: noop
  },
  opossum: {
    create: (i) => new Opossum(fn, { name: `svc-${i}` }),
    close: (b) => (b as Opossum).shutdown()
  },
  cockatiel: {
    create: () => circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
    close: noop
  }
}

const settle = (): void => {
  gc()
  gc()
}

const heap = () => {
  const m = process.memoryUsage()
  return { heap: m.heapUsed, buffers: m.arrayBuffers }
}

export const idleBreakers = async (kind: MemoryKind, count: number): Promise<MemorySample> => {
  const kit = kits[kind]
  // Warm the constructors (lazy module state, inline caches) with one breaker kept aside.
  const warm = kit.create(-1)
  const breakers = new Array<unknown>(count).fill(0)
  settle()
  const refBefore = activeTimeouts()
  const allBefore = liveTimers()
  const before = heap()
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) breakers[i] = kit.create(i)
  const createNs = Number(process.hrtime.bigint() - start) / count
  settle()
  const after = heap()
  const sample: MemorySample = {
    kind,
    count,
    heapPerBreaker: (after.heap - before.heap) / count,
    buffersPerBreaker: (after.buffers - before.buffers) / count,
    createNs,
    refTimersPerBreaker: (activeTimeouts() - refBefore) / count,
    allTimersPerBreaker: (liveTimers() - allBefore) / count
  }
  for (const b of breakers) await kit.close(b)
  await kit.close(warm)
  return sample
}

/** After a full GC: the data on the heap (code spaces apart) and the code. */
const heapPoint = (calls: number): HeapPoint => {
  settle()
  let code = 0
  for (const space of getHeapSpaceStatistics()) if (space.space_name.startsWith("code")) code += space.space_used_size
  const m = process.memoryUsage()
  return { calls, data: m.heapUsed - code + m.arrayBuffers, code }
}

/**
 * `calls` calls through one Promise-API breaker, default options but a 1 ms retry delay:
 * every 1000th call fails its first attempt and succeeds on the retry, every 100,000th
 * fails all 4 attempts (4 consecutive failures, under the threshold of 5), so the failure
 * list fills up while the circuit stays closed. The heap is read at checkpoints.
 */
export const growth = async (calls: number, checkpoints: ReadonlyArray<number>): Promise<GrowthSample> => {
  let failedAttempts = 0
  const service = (i: number, ctx: CallContext): Promise<number> => {
    if ((i % 1000 === 999 && ctx.attempt === 1) || i % 100_000 === 50_000) {
      failedAttempts++
      return Promise.reject(new Error(`service failed on call ${i}, attempt ${ctx.attempt}`))
    }
    return Promise.resolve(i)
  }
  const breaker = createAdvancedCircuitBreaker(service, { name: "growth", retryDelay: 1, passContext: true })
  const points: Array<HeapPoint> = [heapPoint(0)]
  const start = process.hrtime.bigint()
  let i = 0
  for (const mark of [...checkpoints.filter((c) => c < calls), calls]) {
    for (; i < mark; i++) await breaker.execute(i).catch(noop)
    points.push(heapPoint(mark))
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  const metrics = breaker.getMetrics()
  await breaker.dispose()
  return { points, failedAttempts, lastFailures: metrics.lastFailures.length, totalCalls: metrics.totalCalls, seconds }
}
