/**
 * The core's behavioural store suite (packages/core/test/storeSuite.ts), run unchanged against the Redis store: one
 * redis-server started for the block, one store over it shared by every test (the suite gives each test keys and
 * circuit names of its own), as `memoryStore.test.ts` shares one memory store.
 */
import { CircuitBreakerStore } from "@circuit-breaker/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { storeSuite } from "../../core/test/storeSuite.js"
import { RedisCircuitBreakerStore } from "../src/index.js"
import { describeWithRedis, layerRedisServer, RedisTestServer } from "./utils/RedisServer.js"

/**
 * The Redis store over a server of its own, started when the suite's layer is built and stopped with it. The suite is
 * not about timeouts: a store timeout long enough that a loaded machine never reaches it.
 */
const storeLayer = Layer.scoped(
  CircuitBreakerStore.CircuitBreakerStore,
  Effect.flatMap(RedisTestServer, (server) =>
    RedisCircuitBreakerStore.make({ url: server.url, prefix: "suite:", storeTimeout: 2_000 })
  )
).pipe(Layer.provide(layerRedisServer()))

describeWithRedis("the core store suite", () => {
  storeSuite("redis", storeLayer)
})
