/**
 * The background loop. Its cost does not grow with the number of circuits:
 *
 * - every `flushInterval`, the counts of the circuits that have some are written;
 * - every `syncInterval`, one small script per Redis node reads the node's marker, its change
 *   count (and Redis's clock): a marker that changed means the node lost its data (FLUSHALL, a
 *   restart empty), and every circuit in use is read again, so that an Open one is written
 *   back; a count that no announcement brought means one was lost (see changes.ts);
 * - while Redis is away (or while a policy other than `"local"` must know at once that it
 *   went away), a PING when nothing else asked it.
 *
 * Changes made elsewhere arrive on the channel, with their state, and need no read.
 * The loop runs on an unref'd timer: it never keeps the process alive.
 */
import * as Effect from "effect/Effect"
import { Cluster } from "ioredis"
import type { CircuitSync } from "./circuitSync.js"
import { handleEverySocketError } from "./connection.js"

/** An unused circuit is forgotten after this long (its key lives on in Redis). */
const FORGET_AFTER = 10 * 60_000

export interface LoopOptions {
  readonly flushInterval: number
  readonly syncInterval: number
  /** Whether to PING a quiet Redis that is up (a frozen server keeps its connections open). */
  readonly pingWhenUp: () => boolean
  readonly run: (effect: Effect.Effect<void>) => Promise<void>
}

/** Reads each node's marker and change count: a node whose marker changed lost its data. */
const syncNodes = (sync: CircuitSync, markers: Map<string, string>): Effect.Effect<void> =>
  Effect.forEach(
    sync.changes.nodes(),
    (node) =>
      Effect.ignore(
        Effect.map(
          sync.connection.run("sync", () => {
            const sent = sync.clock.sent()
            return sync.connection.client.circuitBreakerSync(node.marker, node.changes).then((reply) => {
              sync.clock.observe(reply[1], sent)
              return reply
            })
          }),
          ([marker, , count]) => {
            const seen = markers.get(node.marker)
            markers.set(node.marker, marker)
            if (seen !== undefined && seen !== marker) sync.refreshAll()
            sync.changes.read(node.changes, count, Date.now())
          }
        )
      ),
    { discard: true, concurrency: "unbounded" }
  )

/** Dates the cells used since the last look, forgets the long unused, and old reports. */
const age = (sync: CircuitSync, now: number): void => {
  for (const cell of sync.cells.values()) {
    if (cell.used) {
      cell.used = false
      cell.lastUsed = now
    }
    if (now - cell.lastUsed > FORGET_AFTER && cell.pending === undefined && !cell.writing && !cell.queued) {
      sync.cells.delete(cell.name)
    }
  }
  for (const [key, at] of sync.reported) if (now - at > 60_000) sync.reported.delete(key)
}

/**
 * A Cluster's subscriber is one connection of ioredis's own, to a node it picks, and picks
 * again (with no event) when that node goes away: messages published meanwhile are lost.
 * Each tick looks at it: a new one is unref'd, and every circuit in use is read again, now and
 * at the next sync (once it has subscribed).
 */
const watchClusterSubscriber = (sync: CircuitSync) => {
  let current: any
  let again = false
  return (syncNow: boolean): void => {
    const subscriber = sync.connection.subscriber
    if (!(subscriber instanceof Cluster)) return
    if (again && syncNow) {
      again = false
      sync.refreshAll()
    }
    const instance = (subscriber as any).subscriber?.getInstance?.()
    if (instance === undefined || instance === null || instance === current) return
    const replaced = current !== undefined
    current = instance
    handleEverySocketError(instance)
    instance.stream?.unref?.()
    instance.on?.("connect", () => instance.stream?.unref?.())
    if (replaced) {
      sync.changes.reset()
      sync.refreshAll()
      again = true
    }
  }
}

/** Starts the loop; the returned function stops it. */
export const start = (sync: CircuitSync, options: LoopOptions): (() => void) => {
  const connection = sync.connection
  const markers = new Map<string, string>()
  const ping = Effect.ignore(connection.run("ping", () => connection.client.ping()))
  const checkSubscriber = watchClusterSubscriber(sync)
  let lastSync = 0
  let running = false
  const tick = () => {
    if (running || connection.releasing) return
    running = true
    const now = Date.now()
    const syncNow = now - lastSync >= options.syncInterval
    if (syncNow) {
      lastSync = now
      age(sync, now)
    }
    checkSubscriber(syncNow)
    // Follows the Cluster's masters: the first tick opens their subscribers, later ones follow failovers.
    connection.masterSubscribers?.reconcile()
    sync.changes.check(now)
    const quiet = now - connection.lastAnswer >= options.flushInterval
    const probe = connection.client.status === "ready" && quiet && (connection.health !== "up" || options.pingWhenUp())
    const work = Effect.all(
      [sync.flushDirty(), probe ? ping : Effect.void, syncNow ? syncNodes(sync, markers) : Effect.void],
      {
        concurrency: "unbounded",
        discard: true
      }
    )
    options.run(work).finally(() => {
      running = false
    })
  }
  const timer = setInterval(tick, options.flushInterval)
  timer.unref()
  tick()
  return () => clearInterval(timer)
}
