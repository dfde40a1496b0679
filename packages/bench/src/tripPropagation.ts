/**
 * Item c of the Redis section: trip propagation to a second process. A forked child (tripPropagationChild.ts, with
 * the same loader flags) holds a breaker on the same circuit and polls `getState()` every millisecond until it reads
 * OPEN; the parent takes `process.hrtime.bigint()` just before the failing call that trips the circuit
 * (failureThreshold 1), the child when it first reads OPEN. CLOCK_MONOTONIC is one clock for every process of a
 * Linux machine. Reset and repeat.
 */
import { type ChildProcess, fork } from "node:child_process"
import { extname } from "node:path"
import { fileURLToPath } from "node:url"
import { type AdvancedCircuitBreaker, createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
import { envInt } from "./env.js"
import { spawned } from "./redisServerProcess.js"
import { sleep } from "./sleep.js"
import { type ChildMessage, type ParentMessage, propagationOptions } from "./tripPropagationProtocol.js"

export const TRIPS = envInt("BENCH_REDIS_TRIPS", 100)

/** The child's entry point, with this file's own extension (`.ts` under tsx). */
const CHILD_ENTRY = fileURLToPath(
  new URL(`./tripPropagationChild${extname(fileURLToPath(import.meta.url))}`, import.meta.url)
)

/** Milliseconds from the parent's start of each trip to: its own OPEN, the message in the child, the child's OPEN. */
export interface Trip {
  readonly local: number
  readonly message: number | undefined
  readonly seen: number
}

type NextMessage = <K extends string>(key: K, within?: number) => Promise<Extract<ChildMessage, Record<K, unknown>>>

interface PropagationChild {
  readonly child: ChildProcess
  readonly exited: Promise<void>
  /** The child's next message, which must carry `key`; fails on an error report, another message or a timeout. */
  readonly next: NextMessage
}

const forkPropagationChild = (url: string): PropagationChild => {
  const child = fork(CHILD_ENTRY, [url], {
    execArgv: process.execArgv.filter((arg) => arg !== "--expose-gc"),
    // Its output (the store's log line) goes to stderr, with the progress lines: stdout is the report.
    stdio: ["ignore", 2, 2, "ipc"]
  })
  spawned.add(child)
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  void exited.then(() => spawned.delete(child))
  const inbox: Array<ChildMessage> = []
  let wake: (() => void) | undefined
  child.on("message", (message: ChildMessage) => {
    inbox.push(message)
    wake?.()
  })
  const next: NextMessage = async <K extends string>(key: K, within = 5000) => {
    const deadline = Date.now() + within
    for (;;) {
      const message = inbox.shift()
      if (message !== undefined) {
        if ("error" in message) throw new Error(`propagation child: ${message.error}`)
        if (key in message) return message as Extract<ChildMessage, Record<K, unknown>>
        throw new Error(`propagation child: expected ${key}, got ${JSON.stringify(message)}`)
      }
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`propagation child: no ${key}`)
      await new Promise<void>((resolve) => {
        wake = resolve
        setTimeout(resolve, 50)
      })
      wake = undefined
    }
  }
  return { child, exited, next }
}

/** `TRIPS` times: arm the child, trip the circuit with one failing call, time it, reset; stops at a trip never seen. */
const timeTrips = async (
  breaker: AdvancedCircuitBreaker<[], number>,
  { child, next }: PropagationChild
): Promise<ReadonlyArray<Trip>> => {
  const trips: Array<Trip> = []
  const since = (start: bigint, at: string) => Number(BigInt(at) - start) / 1e6
  for (let trip = 0; trip < TRIPS; trip++) {
    child.send({ cmd: "arm" } satisfies ParentMessage)
    await next("armed")
    await sleep(5)
    const start = process.hrtime.bigint()
    await breaker.execute().catch(() => undefined)
    const local = process.hrtime.bigint()
    if (breaker.getState() !== "OPEN") throw new Error(`the parent's breaker did not trip: ${breaker.getState()}`)
    const seen = await next("open").catch(() => undefined)
    if (seen === undefined) {
      // The child never read OPEN within the wait: a lost propagation, reported as an infinite time (the
      // child's protocol is out of step now, so no further trip is timed).
      trips.push({ local: since(start, String(local)), message: undefined, seen: Number.POSITIVE_INFINITY })
      break
    }
    const { open, message } = seen
    trips.push({
      local: since(start, String(local)),
      message: message === null ? undefined : since(start, message),
      seen: since(start, open)
    })
    await breaker.reset()
    await next("closed")
    await sleep(10)
  }
  return trips
}

export const measurePropagation = async (url: string): Promise<ReadonlyArray<Trip>> => {
  const propagationChild = forkPropagationChild(url)
  const { child, exited, next } = propagationChild
  const breaker = createAdvancedCircuitBreaker(async (): Promise<number> => {
    throw new Error("down")
  }, propagationOptions(url))
  try {
    while ((await breaker.getDistributedState().catch(() => null)) === null) await sleep(10)
    await next("ready", 20_000)
    return await timeTrips(breaker, propagationChild)
  } finally {
    await breaker.dispose()
    if (child.connected) child.send({ cmd: "exit" } satisfies ParentMessage)
    const timer = setTimeout(() => child.kill("SIGKILL"), 2000)
    await exited
    clearTimeout(timer)
  }
}
