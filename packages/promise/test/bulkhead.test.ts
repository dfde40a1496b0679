import { BulkheadRejectedError, CircuitBreakerError } from "@circuit-breaker/core"
import { afterEach, describe, expect, it, vi } from "vitest"
import { PromiseBulkhead } from "../src/internal/bulkhead.js"

/** A call that runs until its `finish` is called. */
const gate = () => {
  let finish!: () => void
  const done = new Promise<void>((resolve) => (finish = resolve))
  return { done, finish }
}

/** A call that records `id` in `log` as it starts, then waits for `until`. */
const logged = (log: Array<number>, id: number, until: Promise<void>) => () => {
  log.push(id)
  return until
}

/** Resolves with what the promise rejected with; fails if it resolves. */
const rejectionOf = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error("expected a rejection")
}

const stats = (b: PromiseBulkhead) => ({
  running: b.slots.running,
  queued: b.slots.queued,
  rejections: b.slots.rejections
})

afterEach(() => {
  vi.useRealTimers()
})

describe("PromiseBulkhead", () => {
  it("runs maxConcurrent calls and rejects the next at once with a BulkheadRejectedError, without calling it", async () => {
    const bulkhead = new PromiseBulkhead("svc", { maxConcurrent: 2, maxQueue: 0, queueTimeout: undefined })
    const g = gate()
    const calls: Array<number> = []
    const running = [1, 2].map((i) => bulkhead.run(logged(calls, i, g.done)))
    const error = await rejectionOf(bulkhead.run(() => calls.push(3)))
    expect(error).toBeInstanceOf(BulkheadRejectedError)
    expect(CircuitBreakerError.isCircuitBreakerError(error)).toBe(true)
    expect((error as BulkheadRejectedError).reason).toBe("Full")
    expect((error as BulkheadRejectedError).name).toBe("BulkheadRejectedError")
    expect(calls).toEqual([1, 2])
    g.finish()
    await Promise.all(running)
    expect(stats(bulkhead)).toEqual({ running: 0, queued: 0, rejections: 1 })
  })

  it("queues up to maxQueue calls and serves them in order", async () => {
    const bulkhead = new PromiseBulkhead("svc", { maxConcurrent: 1, maxQueue: 2, queueTimeout: undefined })
    const gates = [gate(), gate(), gate()]
    const order: Array<number> = []
    const calls = gates.map((g, i) => bulkhead.run(logged(order, i, g.done)))
    expect(stats(bulkhead)).toEqual({ running: 1, queued: 2, rejections: 0 })
    expect(((await rejectionOf(bulkhead.run(() => 0))) as BulkheadRejectedError).reason).toBe("Full")
    gates[0]!.finish()
    await calls[0]
    await Promise.resolve()
    expect(order).toEqual([0, 1])
    gates[1]!.finish()
    gates[2]!.finish()
    await Promise.all(calls)
    expect(order).toEqual([0, 1, 2])
    expect(stats(bulkhead)).toEqual({ running: 0, queued: 0, rejections: 1 })
  })

  it("a call that waits past queueTimeout rejects with QueueTimeout and leaves the queue; no timer stays", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] })
    const bulkhead = new PromiseBulkhead("svc", { maxConcurrent: 1, maxQueue: 1, queueTimeout: 1000 })
    const g = gate()
    const first = bulkhead.run(() => g.done)
    const waiting = rejectionOf(bulkhead.run(() => "never"))
    vi.advanceTimersByTime(999)
    expect(stats(bulkhead).queued).toBe(1)
    vi.advanceTimersByTime(1)
    expect(((await waiting) as BulkheadRejectedError).reason).toBe("QueueTimeout")
    expect(stats(bulkhead)).toEqual({ running: 1, queued: 0, rejections: 1 })
    g.finish()
    await first
    expect(stats(bulkhead).running).toBe(0)
    const served = bulkhead.run(() => g.done)
    const queued = bulkhead.run(() => "served")
    expect(vi.getTimerCount()).toBe(1)
    await served
    expect(await queued).toBe("served")
    expect(vi.getTimerCount()).toBe(0)
  })

  it("an aborted waiter leaves the queue with the signal's reason and frees nothing it did not hold", async () => {
    const bulkhead = new PromiseBulkhead("svc", { maxConcurrent: 1, maxQueue: 2, queueTimeout: undefined })
    const g = gate()
    const first = bulkhead.run(() => g.done)
    const controller = new AbortController()
    const aborted = rejectionOf(bulkhead.run(() => "never", controller.signal))
    const next = bulkhead.run(() => "next")
    controller.abort(new Error("caller gave up"))
    expect(((await aborted) as Error).message).toBe("caller gave up")
    expect(stats(bulkhead)).toEqual({ running: 1, queued: 1, rejections: 0 })
    g.finish()
    await first
    expect(await next).toBe("next")
    expect(stats(bulkhead)).toEqual({ running: 0, queued: 0, rejections: 0 })
    const already = new AbortController()
    already.abort(new Error("before"))
    const blocker = bulkhead.run(() => g.done)
    expect(((await rejectionOf(bulkhead.run(() => 1, already.signal))) as Error).message).toBe("before")
    await blocker
    expect(stats(bulkhead)).toEqual({ running: 0, queued: 0, rejections: 0 })
  })

  it("a call that throws gives its slot back", async () => {
    const bulkhead = new PromiseBulkhead("svc", { maxConcurrent: 1, maxQueue: 0, queueTimeout: undefined })
    await rejectionOf(
      bulkhead.run(() => {
        throw new Error("sync")
      })
    )
    await rejectionOf(bulkhead.run(() => Promise.reject(new Error("async"))))
    expect(stats(bulkhead)).toEqual({ running: 0, queued: 0, rejections: 0 })
  })
})
