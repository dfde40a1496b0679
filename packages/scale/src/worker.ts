/**
 * One service instance of the scale run: N circuits in Redis mode, through the Promise API (one breaker per circuit,
 * `distributedTracking: true`) or the Effect API (N breakers over one store), every circuit called once a second.
 * When asked, it trips a circuit and says when; or watches a circuit, reading its state (the store's local view, no
 * Redis command) about once a millisecond, and says when it first reads it open: the moment a call made here would be
 * rejected. It also reports its memory, and its event-loop delay (how late its timers ran: while it waits for a
 * core, nothing it does, the store's adoption of an announcement included, can run).
 *
 * Run with the TypeScript sources: `node --import tsx --conditions=source --expose-gc worker.ts <settings JSON>`.
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import { type AdvancedCircuitBreaker, createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
import { monotonicNow } from "@circuit-breaker/soak/records"
import { Cluster, Redis } from "ioredis"
import { effectFleet } from "./effectFleet.js"
import { CHANNEL, FLOOR_CHANNEL, type FromWorker, type ToWorker, type WorkerSettings } from "./protocol.js"

const settings = JSON.parse(process.argv[2] ?? "") as WorkerSettings
const send = (message: FromWorker) => process.send?.(message)
const circuitName = (i: number) => `circuit-${i}`

/** A client the worker owns, for the cluster: the Promise API and the store take it as they would a user's. */
const makeClient = (): Redis | Cluster =>
  settings.target.kind === "cluster"
    ? new Cluster(settings.target.nodes.map((port) => ({ host: "127.0.0.1", port })))
    : new Redis(settings.target.url)

/** What the parent drives: the same for both APIs. */
export interface Fleet {
  /** One call of circuit `i`, its outcome ignored. */
  readonly call: (i: number) => void
  /** Trips circuit `i` with a failing call; resolves with when the call began (undefined if the circuit did not open). */
  readonly trip: (i: number) => Promise<number | undefined>
  /** Whether circuit `i` reads open now: a read of the local view, which the store keeps up to date. */
  readonly isOpen: (i: number) => boolean
  readonly close: () => Promise<void>
}

const promiseFleet = async (): Promise<Fleet> => {
  const client = settings.target.kind === "cluster" ? makeClient() : undefined
  const breakers: Array<AdvancedCircuitBreaker<[boolean], string>> = []
  for (let i = 0; i < settings.circuits; i++) {
    const breaker = createAdvancedCircuitBreaker(
      async (fail: boolean) => {
        if (fail) throw new Error("service down")
        return "ok"
      },
      {
        name: circuitName(i),
        failureThreshold: 1,
        resetTimeout: 600_000,
        maxRetries: 0,
        distributedTracking: true,
        redis: client ?? (settings.target.kind === "single" ? settings.target.url : undefined)
      }
    )
    breakers.push(breaker)
  }
  // Each breaker opens its store in the background: wait until every one has read its circuit.
  for (const breaker of breakers) {
    for (let tries = 0; (await breaker.getDistributedState().catch(() => null)) === null; tries++) {
      if (tries > 500) throw new Error(`${breaker.name}: the store never answered`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  const isOpen = (i: number) => breakers[i]!.getState() === "OPEN"
  return {
    call: (i) => void breakers[i]!.execute(false).catch(() => {}),
    trip: async (i) => {
      // Timed from the start of the failing call, as in the Effect fleet, not from a state-change listener: the
      // store may send the trip's write before the listeners run, and a watcher then reads it open "before" it.
      const at = monotonicNow()
      await breakers[i]!.execute(true).catch(() => {})
      return isOpen(i) ? at : undefined
    },
    isOpen,
    close: async () => {
      await Promise.all(breakers.map((b) => b.dispose()))
      await client?.quit()
    }
  }
}

/** How long a watch lasts at most, and how often it reads the state. */
const WATCH_MS = 3_000
const POLL_MS = 1

/**
 * A plain subscriber of the change channel beside the store's, opened for the first watch (after connections were
 * counted): when each announcement reached this process, which splits propagation into the leg to this process and
 * the store's adoption here. It also hears the floor channel, where the tripping process publishes a circuit's name
 * with a plain PUBLISH before tripping it: what Redis's pub/sub and this machine give with no store on either side.
 */
const announcements = (() => {
  const heard = new Map<string, number>()
  const floorHeard = new Map<string, number>()
  let listening: Promise<void> | undefined
  const listen = () => {
    const redis = plainConnection(0)
    redis.on("message", (channel: string, message: string) => {
      const at = monotonicNow()
      if (channel === FLOOR_CHANNEL) return void (floorHeard.has(message) || floorHeard.set(message, at))
      const name = message.slice(message.lastIndexOf("\n") + 1)
      if (!heard.has(name)) heard.set(name, at)
    })
    return redis.subscribe(CHANNEL, FLOOR_CHANNEL).then(() => undefined)
  }
  return {
    ready: () => (listening ??= listen()),
    forget: (circuit: string) => {
      heard.delete(circuit)
      floorHeard.delete(circuit)
    },
    heardAt: (circuit: string) => heard.get(circuit),
    floorHeardAt: (circuit: string) => floorHeard.get(circuit)
  }
})()

/** A plain connection to the server, or to the cluster's `n`-th master (mod their number). */
const plainConnection = (n: number): Redis => {
  const target = settings.target
  const redis =
    target.kind === "single"
      ? new Redis(target.url)
      : new Redis({ host: "127.0.0.1", port: target.nodes[n % target.nodes.length]! })
  redis.on("error", () => {})
  return redis
}

/**
 * The tripping process's publishers of the floor's messages. On the cluster they publish on a master other than the
 * one the watchers' subscribers listen on, so every message crosses the cluster bus (as most announcements do).
 */
const floorPublishers = new Map<number, Redis>()
const publishFloor = async (i: number): Promise<number> => {
  const masters = settings.target.kind === "cluster" ? settings.target.nodes.length : 1
  const n = masters > 1 ? 1 + (i % (masters - 1)) : 0
  let redis = floorPublishers.get(n)
  if (redis === undefined) {
    floorPublishers.set(n, (redis = plainConnection(n)))
    // Connected ahead, then left idle as the store's connection is: a PUBLISH right after a reply finds Redis awake.
    await redis.ping()
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const at = monotonicNow()
  await redis.publish(FLOOR_CHANNEL, circuitName(i))
  return at
}

/** Reads circuit `i` until it reads open (reported with the moment of that read) or the watch runs out. */
const watch = async (fleet: Fleet, i: number) => {
  const circuit = circuitName(i)
  await announcements.ready()
  announcements.forget(circuit)
  const until = monotonicNow() + WATCH_MS
  const poll = (): void => {
    const open = fleet.isOpen(i)
    const at = monotonicNow()
    if (open) {
      const heard = announcements.heardAt(circuit)
      send({ _tag: "opened", circuit, at, heard, floorHeard: announcements.floorHeardAt(circuit) })
    } else if (at > until) send({ _tag: "unseen", circuit })
    else setTimeout(poll, POLL_MS)
  }
  send({ _tag: "watching", circuit })
  poll()
}

const loopDelay = monitorEventLoopDelay({ resolution: 1 })
loopDelay.enable()

const main = async () => {
  const fleet =
    settings.api === "promise"
      ? await promiseFleet()
      : await effectFleet(settings, settings.target.kind === "cluster" ? makeClient() : undefined)
  // Every circuit once a second, spread over the second in 20 slices.
  let next = 0
  const slice = Math.ceil(settings.circuits / 20)
  const ticker = setInterval(() => {
    for (let n = 0; n < slice; n++) {
      fleet.call(next)
      next = (next + 1) % settings.circuits
    }
  }, 50)
  process.on("message", async (message: ToWorker | "stop") => {
    if (message === "stop") {
      clearInterval(ticker)
      await fleet.close()
      for (const redis of floorPublishers.values()) redis.disconnect()
      // Nothing else may keep the process alive: it must exit by itself now.
      process.disconnect?.()
      return
    }
    switch (message._tag) {
      case "trip": {
        const at = await fleet.trip(message.circuit)
        return at === undefined ? undefined : send({ _tag: "tripped", circuit: circuitName(message.circuit), at })
      }
      case "floor":
        return send({
          _tag: "floorSent",
          circuit: circuitName(message.circuit),
          at: await publishFloor(message.circuit)
        })
      case "watch":
        return watch(fleet, message.circuit)
      case "measureDelay":
        return loopDelay.reset()
      case "memory": {
        const delay = {
          p50: loopDelay.percentile(50) / 1e6,
          p99: loopDelay.percentile(99) / 1e6,
          max: loopDelay.max / 1e6
        }
        globalThis.gc?.()
        const { rss, heapUsed } = process.memoryUsage()
        return send({ _tag: "memory", rss, heapUsed, loopDelay: delay })
      }
    }
  })
  process.send?.("ready")
}

main().catch((error: unknown) => {
  process.stderr.write(`scale worker failed: ${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})
