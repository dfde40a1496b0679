import { CircuitBreaker } from "@circuit-breaker/core"
import { CircuitMonitor } from "@circuit-breaker/monitor"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { monitorEventLoopLag } from "../../redis/test/utils/busyMachine.js"

interface Frame {
  readonly event: string
  readonly data: any
}

/** An SSE client over a response: `read` collects frames until `until` holds for one, or `ms` passes. */
const sse = (response: Response) => {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ""
  const read = async (until: (event: string, data: any) => boolean, ms: number): Promise<Array<Frame>> => {
    const frames: Array<Frame> = []
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      let end = buffer.indexOf("\n\n")
      while (end !== -1) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const frame = {
          event: /^event: (.*)$/m.exec(block)?.[1] ?? "message",
          data: JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null")
        }
        frames.push(frame)
        if (until(frame.event, frame.data)) return frames
        end = buffer.indexOf("\n\n")
      }
      const next = await Promise.race([
        reader.read(),
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now())))
      ])
      if (next === undefined || next.done) break
      buffer += next.value
    }
    return frames
  }
  return { read }
}

const waitFor = async (condition: () => boolean, ms: number) => {
  const deadline = Date.now() + ms
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  return condition()
}

describe("serve", () => {
  it("binds 127.0.0.1 by default, and rejects bad options naming them", async () => {
    const monitor = await CircuitMonitor.serve({ port: 0 })
    expect(monitor.host).toBe("127.0.0.1")
    expect(monitor.url).toBe(`http://127.0.0.1:${monitor.port}/`)
    await monitor.close()
    await expect(CircuitMonitor.serve({ port: 70000 })).rejects.toMatchObject({ option: "port" })
    await expect(CircuitMonitor.serve({ token: " " })).rejects.toMatchObject({ option: "token", value: "(redacted)" })
  })

  it("/events: a snapshot, a state frame within a second of a trip, outcomes every second, and the stream ends when the client goes away", async () => {
    const name = `events-${process.pid}`
    const breaker = Effect.runSync(CircuitBreaker.make({ name, maxRetries: 0 }))
    const monitor = await CircuitMonitor.serve({ port: 0 })
    const abort = new AbortController()
    const response = await fetch(`${monitor.url}events`, { signal: abort.signal })
    expect(response.headers.get("content-type")).toContain("text/event-stream")
    const events = sse(response)
    const [first] = await events.read(() => true, 5000)
    expect(first!.event).toBe("snapshot")
    expect(first!.data.circuits.some((c: { name: string }) => c.name === name)).toBe(true)
    expect(monitor.openStreams).toBe(1)

    await Effect.runPromise(breaker.execute(Effect.succeed(1)))
    const tripped = await fetch(`${monitor.url}circuits/${name}/trip`, { method: "POST" })
    expect(tripped.status).toBe(200)
    // The bound counts the time this process could run (see busyMachine.ts).
    const lag = monitorEventLoopLag()
    const started = Date.now()
    const frames = await events.read((event, data) => event === "state" && data.circuit === name, 3000)
    expect(frames.at(-1)).toMatchObject({ event: "state", data: { circuit: name, from: "Closed", to: "Open" } })
    const arrival = await lag.runningSince(started)
    lag.stop()
    expect(arrival).toBeLessThan(1000)
    const outcomes = await events.read(
      (event, data) => event === "outcomes" && data.circuits.some((c: { circuit: string }) => c.circuit === name),
      3000
    )
    expect(outcomes.at(-1)!.data.circuits.find((c: { circuit: string }) => c.circuit === name)).toMatchObject({
      calls: 1,
      successes: 1
    })

    abort.abort()
    expect(await waitFor(() => monitor.openStreams === 0, 3000)).toBe(true)
    await monitor.close()
  })

  it("close() ends open streams and returns promptly", async () => {
    const monitor = await CircuitMonitor.serve({ port: 0 })
    const response = await fetch(`${monitor.url}events`)
    await sse(response).read(() => true, 5000)
    expect(monitor.openStreams).toBe(1)
    const lag = monitorEventLoopLag()
    const started = Date.now()
    await monitor.close()
    const closing = await lag.runningSince(started)
    lag.stop()
    expect(closing).toBeLessThan(2000)
    expect(monitor.openStreams).toBe(0)
    await expect(fetch(`${monitor.url}metrics`)).rejects.toThrow()
  })
})
