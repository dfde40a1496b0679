/**
 * The fault driver: Redis frozen (SIGSTOP 1–3 s), killed and restarted empty, FLUSHALL, SCRIPT FLUSH, its pub/sub
 * clients killed, and, for the one process behind the proxy, 100–400 ms of latency, a 4 s blackhole and a reset.
 * One fault at a time, spread over the run with quiet stretches between them.
 */
import type { RedisServer } from "../../redis/test/utils/redisProcess.js"
import type { FaultyLink } from "./proxy.js"
import { type FaultRecord, monotonicNow } from "./records.js"

interface Fault {
  readonly name: string
  /** Injects the fault, waits until it is over, and says what exactly was done. */
  readonly run: (server: RedisServer, proxy: FaultyLink) => Promise<string>
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const between = (min: number, max: number) => Math.round(min + Math.random() * (max - min))

const faults: ReadonlyArray<Fault> = [
  {
    name: "SIGSTOP",
    run: async (server) => {
      const ms = between(1_000, 3_000)
      server.freeze()
      await sleep(ms)
      server.thaw()
      return `redis-server stopped for ${ms} ms`
    }
  },
  {
    name: "latency",
    run: async (_, proxy) => {
      const ms = between(100, 400)
      proxy.latency(ms)
      await sleep(4_000)
      proxy.normal()
      return `process 0: ${ms} ms added each way for 4 s`
    }
  },
  {
    name: "FLUSHALL",
    run: async (server) => `FLUSHALL: ${await server.command("FLUSHALL")}`
  },
  {
    name: "blackhole",
    run: async (_, proxy) => {
      proxy.blackhole()
      await sleep(4_000)
      proxy.normal()
      return "process 0: nothing passes for 4 s"
    }
  },
  {
    name: "restart empty",
    run: async (server) => {
      await server.restart()
      return "redis-server killed, an empty one started on the same port"
    }
  },
  {
    name: "SCRIPT FLUSH",
    run: async (server) => `SCRIPT FLUSH: ${await server.command("SCRIPT", "FLUSH")}`
  },
  {
    name: "reset",
    run: async (_, proxy) => {
      proxy.reset()
      return "process 0: its connections reset (RST)"
    }
  },
  {
    name: "CLIENT KILL pubsub",
    run: async (server) => `CLIENT KILL TYPE pubsub: ${await server.command("CLIENT", "KILL", "TYPE", "pubsub")}`
  }
]

/** How long the run is quiet before the first fault and after the last. */
export const WARM_UP_MS = 15_000
export const COOL_DOWN_MS = 10_000
/** The time given to each fault: the fault, then quiet, for convergence and for healthy trips to be measured. */
const SLOT_MS = 10_000

/**
 * Injects faults from `WARM_UP_MS` after `start` until `COOL_DOWN_MS` before `start + seconds`, each at a random
 * moment of its slot (so that faults fall on every phase of the service's cycle). Resolves with what was done.
 */
export const driveFaults = async (
  server: RedisServer,
  proxy: FaultyLink,
  start: number,
  seconds: number,
  onFault: (fault: FaultRecord) => void
): Promise<Array<FaultRecord>> => {
  const done: Array<FaultRecord> = []
  const slots = Math.max(1, Math.floor((seconds * 1_000 - WARM_UP_MS - COOL_DOWN_MS) / SLOT_MS))
  for (let i = 0; i < slots; i++) {
    const fault = faults[i % faults.length]!
    const at = start + WARM_UP_MS + i * SLOT_MS + between(0, 2_000)
    await sleep(Math.max(0, at - monotonicNow()))
    const begin = monotonicNow()
    const detail = await fault.run(server, proxy)
    const record: FaultRecord = { name: fault.name, start: begin, end: monotonicNow(), detail }
    done.push(record)
    onFault(record)
  }
  return done
}
