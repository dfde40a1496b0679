/**
 * On a Redis Cluster, each store hears the change channel on every master: a change announced by the master that
 * holds its circuit is heard there at once, not after the cluster bus forwards it (whose outgoing links have no
 * TCP_NODELAY, and stall a message tens of milliseconds behind the previous one's ACK). The copies that arrive by the
 * other paths are not taken for lost messages.
 */
import { CircuitBreaker, CircuitBreakerStore } from "@circuit-breaker/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Scope } from "effect"
import type { Cluster } from "ioredis"
import { RedisCircuitBreakerStore } from "../src/index.js"
import { ChangeLog } from "../src/internal/changes.js"
import { slotOfTag } from "../src/internal/slots.js"
import { commandOn, describeWithRedisCli, type RedisCluster, startRedisCluster } from "./utils/topologies.js"
import { runUndisposed } from "./utils/undisposed.js"

const STORE_TIMEOUT = 2_000

/** A store whose only way to learn of another process's change is the channel: its periodic sync is a minute away. */
const storeOn = (scope: Scope.Scope, cluster: RedisCluster) =>
  RedisCircuitBreakerStore.make({
    cluster: { nodes: cluster.nodes },
    flushInterval: 20,
    syncInterval: 60_000,
    storeTimeout: STORE_TIMEOUT
  }).pipe(Scope.extend(scope))

const breakerOn = (store: CircuitBreakerStore.Store, name: string) =>
  CircuitBreaker.make({ name, failureThreshold: 1, maxRetries: 0, timeout: false, resetTimeout: "1 minute" }).pipe(
    Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store)
  )

const pubsubClients = async (port: number): Promise<number> =>
  String(await commandOn(port, "CLIENT", "LIST", "TYPE", "pubsub"))
    .split("\n")
    .filter((line) => line.trim().length > 0).length

const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, what: string) =>
  Effect.gen(function* () {
    for (const start = Date.now(); Date.now() - start < 10_000; ) {
      if (yield* check) return
      yield* Effect.sleep(Duration.millis(10))
    }
    return yield* Effect.die(new Error(`${what} not met within 10 s`))
  })

/** A circuit name whose keys live on each master, by the master's port. */
const namesOnEveryMaster = async (cluster: RedisCluster): Promise<ReadonlyArray<string>> => {
  const ranges = (await commandOn(cluster.nodes[0]!.port, "CLUSTER", "SLOTS")) as Array<
    [number, number, [string, number]]
  >
  const byMaster = new Map<number, string>()
  for (let i = 0; byMaster.size < cluster.nodes.length; i++) {
    const name = `direct-${i}`
    const slot = slotOfTag(name)
    const port = Number(ranges.find(([from, to]) => slot >= from && slot <= to)![2][1])
    if (!byMaster.has(port)) byMaster.set(port, name)
  }
  return Array.from(byMaster.values())
}

/** Makes ioredis's own subscriber of `store` deaf: only the subscribers on every master remain. */
const deafen = (store: RedisCircuitBreakerStore.RedisStore): void => {
  const subscriber = (store as any).store.connection.subscriber as Cluster
  const emit = subscriber.emit.bind(subscriber)
  subscriber.emit = (event: string | symbol, ...args: Array<any>) => (event === "message" ? true : emit(event, ...args))
}

describe("copies of an announcement", () => {
  it("a count no newer than the last one announced is neither a loss nor a new starting point", () => {
    let losses = 0
    const log = new ChangeLog(
      () => undefined as never,
      "cb:v1:",
      250,
      () => losses++
    )
    for (const count of [5, 6, 7]) log.announced("changes", count)
    // A copy of the first, late, by a slower path; then the next change, heard first.
    for (const count of [5, 8, 6, 7, 8]) log.announced("changes", count)
    expect(losses).toBe(0)
    log.announced("changes", 10)
    expect(losses).toBe(1)
  })
})

describeWithRedisCli("a subscriber on every master", () => {
  it.live(
    "each master has the store's subscriber, a change is heard from the master that wrote it, none holds a process open",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* Effect.acquireRelease(
            Effect.promise(() => startRedisCluster(3)),
            (c) => Effect.promise(() => c.stop())
          )
          const storeScope = yield* Scope.make()
          const [writer, reader] = yield* Effect.all([storeOn(storeScope, cluster), storeOn(storeScope, cluster)])
          for (const node of cluster.nodes) {
            yield* eventually(
              Effect.promise(async () => (await pubsubClients(node.port)) >= 2),
              `both stores' subscribers on the master at ${node.port}`
            )
          }
          deafen(reader)
          for (const name of yield* Effect.promise(() => namesOnEveryMaster(cluster))) {
            const [w, r] = yield* Effect.all([breakerOn(writer, name), breakerOn(reader, name)])
            yield* Effect.all([w.state, r.state])
            yield* eventually(
              Effect.sync(() => writer.isHealthy() && reader.isHealthy()),
              "both stores healthy"
            )
            yield* Effect.exit(w.execute(Effect.fail("service down")))
            yield* eventually(
              Effect.map(r.state, (s) => s._tag === "Open"),
              `${name} Open in the reader`
            )
          }
          // A process whose breaker is never disposed still exits on its own: the subscribers never hold it open.
          const run = yield* Effect.promise(() =>
            runUndisposed(`cluster:${cluster.nodes.map((n) => n.port).join(",")}`)
          )
          expect(run.output).toContain("called")
          expect(run.exited).toBe(true)
          yield* Scope.close(storeScope, Exit.void)
          for (const node of cluster.nodes) {
            yield* eventually(
              Effect.promise(async () => (await pubsubClients(node.port)) === 0),
              `no subscriber left on the master at ${node.port}`
            )
          }
        })
      ),
    60_000
  )
})
