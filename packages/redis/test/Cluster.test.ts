/**
 * Redis Cluster and Sentinel as first-class targets (issue 12, item 7), against real processes: a 3-master cluster
 * (two stores sharing circuits, a trip on every master's slots, `listCircuits` across masters, one master killed),
 * the Promise API and `layerConfig` over it, and a Sentinel failover that keeps an Open circuit open.
 */
import { CircuitBreaker, CircuitBreakerStore } from "@circuit-breaker/core"
import { createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
import { expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, Layer, Option, Scope } from "effect"
import { Cluster } from "ioredis"
import { RedisCircuitBreakerStore } from "../src/index.js"
import { slotOfTag } from "../src/internal/slots.js"
import {
  commandOn,
  describeWithRedisCli,
  type RedisCluster,
  startRedisCluster,
  startSentinelSetup
} from "./utils/topologies.js"

const STORE_TIMEOUT = 500

const acquireCluster = Effect.acquireRelease(
  Effect.promise(() => startRedisCluster(3)),
  (cluster) => Effect.promise(() => cluster.stop())
)

const storeOn = (scope: Scope.Scope, cluster: RedisCluster) =>
  RedisCircuitBreakerStore.make({
    cluster: { nodes: cluster.nodes },
    flushInterval: 20,
    syncInterval: 200,
    storeTimeout: STORE_TIMEOUT
  }).pipe(Scope.extend(scope))

const breakerOn = (store: CircuitBreakerStore.Store, name: string) =>
  CircuitBreaker.make({ name, maxRetries: 0, timeout: false, resetTimeout: "1 minute" }).pipe(
    Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store)
  )

const stateOf = (breaker: CircuitBreaker.CircuitBreaker) => Effect.map(breaker.state, (s) => s._tag)

const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, within = 5000, what = "condition") =>
  Effect.gen(function* () {
    const start = Date.now()
    while (Date.now() - start < within) {
      if (yield* check) return Date.now() - start
      yield* Effect.sleep(Duration.millis(10))
    }
    return yield* Effect.die(new Error(`${what} not met within ${within} ms`))
  })

/** The port of the master that serves `slot`, from `CLUSTER SLOTS`. */
const masterOf = async (cluster: RedisCluster, slot: number): Promise<number> => {
  const ranges = (await commandOn(cluster.nodes[0]!.port, "CLUSTER", "SLOTS")) as Array<
    [number, number, [string, number]]
  >
  const range = ranges.find(([from, to]) => slot >= from && slot <= to)!
  return Number(range[2][1])
}

/** A circuit name whose keys live on each master. */
const namesOnEveryMaster = async (cluster: RedisCluster): Promise<Map<number, string>> => {
  const byMaster = new Map<number, string>()
  for (let i = 0; byMaster.size < cluster.nodes.length; i++) {
    const name = `circuit-${i}`
    const port = await masterOf(cluster, slotOfTag(name))
    if (!byMaster.has(port)) byMaster.set(port, name)
  }
  return byMaster
}

describeWithRedisCli("Redis Cluster", () => {
  it.live(
    "two stores share circuits on every master; listCircuits scans them all; a killed master stops only its own",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* acquireCluster
          const scope = yield* Effect.scope
          const [a, b] = yield* Effect.all([storeOn(scope, cluster), storeOn(scope, cluster)])
          const names = yield* Effect.promise(() => namesOnEveryMaster(cluster))
          for (const name of names.values()) {
            const [ba, bb] = yield* Effect.all([breakerOn(a, name), breakerOn(b, name)])
            yield* Effect.all([stateOf(ba), stateOf(bb)])
            yield* eventually(Effect.sync(() => a.isHealthy()))
            yield* ba.trip
            yield* eventually(
              Effect.map(stateOf(bb), (s) => s === "Open"),
              5000,
              `${name} Open in b`
            )
          }
          const listed = yield* b.listCircuits
          expect([...listed].sort()).toEqual([...names.values()].sort())
          // Each trip bumped the change count of its own master (a key of another slot there), which the periodic
          // sync reads to catch a lost announcement.
          for (const node of cluster.nodes) {
            const [, keys] = (yield* Effect.promise(() =>
              commandOn(node.port, "SCAN", "0", "MATCH", "cb:v1:changes*", "COUNT", "10000")
            )) as [string, Array<string>]
            expect(keys).toHaveLength(1)
            expect(Number(yield* Effect.promise(() => commandOn(node.port, "GET", keys[0]!)))).toBeGreaterThanOrEqual(1)
          }

          // One master killed, one that a subscriber listens on: the others' circuits are shared still (the
          // subscriber moves to another master), and no call waits beyond the store timeout.
          const killedPort = yield* Effect.promise(async () => {
            for (const node of cluster.nodes) {
              if (String(await commandOn(node.port, "CLIENT", "LIST", "TYPE", "pubsub")).length > 0) return node.port
            }
            return cluster.nodes[0]!.port
          })
          const lostName = names.get(killedPort)!
          yield* Effect.promise(() => cluster.servers.find((server) => server.port === killedPort)!.kill())
          const lost = yield* breakerOn(a, lostName)
          const t0 = Date.now()
          yield* lost.reset
          expect(Either.isRight(yield* Effect.either(lost.execute(Effect.succeed(1))))).toBe(true)
          expect(Date.now() - t0).toBeLessThan(STORE_TIMEOUT + 500)
          for (const [port, name] of names) {
            if (port === killedPort) continue
            const [ba, bb] = yield* Effect.all([breakerOn(a, name), breakerOn(b, name)])
            yield* ba.reset
            yield* eventually(
              Effect.map(stateOf(bb), (s) => s === "Closed"),
              5000,
              `${name} Closed in b after the kill`
            )
          }
        })
      ),
    60_000
  )

  it.live(
    "an ioredis Cluster you own, the Promise API with clusterNodes, and layerConfig with REDIS_CLUSTER_NODES",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* acquireCluster
          const client = new Cluster([...cluster.nodes], {
            enableOfflineQueue: false,
            redisOptions: RedisCircuitBreakerStore.hardenedOptions(STORE_TIMEOUT)
          })
          yield* Effect.addFinalizer(() => Effect.promise(() => client.quit().catch(() => undefined)))
          const fromClient = yield* RedisCircuitBreakerStore.makeFromClient(client, { storeTimeout: STORE_TIMEOUT })
          const viaConfig = yield* Layer.build(
            RedisCircuitBreakerStore.layerConfig({ storeTimeout: STORE_TIMEOUT })
          ).pipe(
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["REDIS_CLUSTER_NODES", cluster.nodeList]])))
          )
          const configured = CircuitBreakerStore.CircuitBreakerStore.pipe(Effect.provide(viaConfig))
          const store = yield* configured
          const name = "across-apis"
          const effectBreaker = yield* breakerOn(fromClient, name)
          const configBreaker = yield* breakerOn(store, name)
          yield* Effect.all([stateOf(effectBreaker), stateOf(configBreaker)])
          const promiseBreaker = createAdvancedCircuitBreaker(async () => "ok", {
            name,
            distributedTracking: true,
            redis: { clusterNodes: cluster.nodes },
            store: { log: "silent", storeTimeout: STORE_TIMEOUT }
          })
          yield* Effect.addFinalizer(() => Effect.promise(() => promiseBreaker.dispose()))
          yield* eventually(Effect.promise(async () => (await promiseBreaker.getDistributedState()) !== null))
          yield* eventually(Effect.sync(() => fromClient.isHealthy()))
          yield* effectBreaker.trip
          yield* eventually(Effect.map(stateOf(configBreaker), (s) => s === "Open"))
          yield* eventually(Effect.sync(() => promiseBreaker.getState() === "OPEN"))
          const snapshot = yield* fromClient.snapshot(name)
          expect(Option.isSome(snapshot) && snapshot.value.state._tag).toBe("Open")
        })
      ),
    60_000
  )
})

describeWithRedisCli("Redis Sentinel", () => {
  it.live(
    "a SIGKILL failover keeps an Open circuit open, and no call waits beyond the store timeout",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const setup = yield* Effect.acquireRelease(
            Effect.promise(() => startSentinelSetup()),
            (s) => Effect.promise(() => s.stop())
          )
          const store = yield* RedisCircuitBreakerStore.make({
            redis: { sentinels: [{ host: setup.sentinel.host, port: setup.sentinel.port }], name: setup.name },
            storeTimeout: STORE_TIMEOUT,
            flushInterval: 20,
            syncInterval: 200
          })
          const breaker = yield* breakerOn(store, "sentinel")
          yield* stateOf(breaker)
          yield* eventually(Effect.sync(() => store.isHealthy()))
          yield* breaker.trip
          // Replicated before the master dies.
          yield* eventually(
            Effect.promise(async () => (await commandOn(setup.replica.port, "EXISTS", "cb:v1:{sentinel}:s")) === 1)
          )
          yield* Effect.promise(() => setup.master.kill())
          let slowest = 0
          const start = Date.now()
          while (Date.now() - start < 15_000) {
            const t0 = Date.now()
            const result = yield* Effect.either(breaker.execute(Effect.succeed(1)))
            slowest = Math.max(slowest, Date.now() - t0)
            expect(Either.isLeft(result)).toBe(true)
            if ((yield* Effect.promise(() => setup.currentMaster())) === setup.replica.port && store.isHealthy()) break
            yield* Effect.sleep(Duration.millis(50))
          }
          expect(yield* Effect.promise(() => setup.currentMaster())).toBe(setup.replica.port)
          expect(slowest).toBeLessThan(STORE_TIMEOUT + 100)
          yield* eventually(
            Effect.sync(() => store.isHealthy()),
            10_000
          )
          expect(yield* stateOf(breaker)).toBe("Open")
          const stored = yield* store.snapshot("sentinel")
          expect(Option.isSome(stored) && stored.value.state._tag).toBe("Open")
        })
      ),
    60_000
  )
})
