/**
 * The Redis test harness: real `redis-server` processes, one per test or suite, on free loopback ports.
 *
 * - `describeWithRedis` runs a suite only where redis-server is installed (and fails under `CI=true` otherwise);
 *   `describeWithRedisTls` also needs a redis-server built with TLS (and skips visibly otherwise).
 * - Servers can require a password, have ACL users (with `default` off) and serve TLS only (`rediss://`), with
 *   throwaway certificates made by openssl (`tls.ts`).
 * - `startRedisServer` / `layerRedisServer` start a server; `kill`, `freeze`, `thaw`, `restart` simulate outages.
 * - Every server is killed by pid when the test process ends, even if a test forgot to stop it.
 */
import { describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import {
  type RedisServer,
  type RedisServerOptions,
  redisServerPath,
  redisTlsSupport,
  startRedisServer
} from "./redisProcess.js"

export * from "./redisProcess.js"
export * from "./tls.js"

/**
 * `describe(name, fn)` when redis-server is on PATH. Without it: a skipped suite and a warning, or, under
 * `CI=true`, a failing test, so that CI never passes by silently skipping the Redis tests.
 */
export const describeWithRedis = (name: string, fn: () => void): void => {
  if (redisServerPath !== undefined) {
    describe(name, fn)
  } else if (process.env.CI === "true") {
    describe(name, () => {
      it("needs redis-server", () => {
        throw new Error("redis-server is required under CI")
      })
    })
  } else {
    console.warn("redis-server not found: skipping Redis tests")
    describe.skip(name, fn)
  }
}

/**
 * `describeWithRedis` for suites that need a TLS server: when this redis-server cannot serve TLS (see
 * `redisTlsSupport`), the suite is skipped with a warning, and a skipped test named after the reason shows in the
 * report. Await it at the top level of the test file.
 */
export const describeWithRedisTls = async (name: string, fn: () => void): Promise<void> => {
  if (redisServerPath === undefined) return describeWithRedis(name, fn)
  const support = await redisTlsSupport()
  if (support.supported) {
    describe(name, fn)
  } else {
    console.warn(`TLS tests skipped: ${support.reason}`)
    describe(name, () => {
      it.skip(`needs TLS: ${support.reason}`, () => {})
    })
    describe.skip(name, fn)
  }
}

/** A running test server, provided by `layerRedisServer`. */
export class RedisTestServer extends Context.Tag("@circuit-breaker/redis/test/RedisTestServer")<
  RedisTestServer,
  RedisServer
>() {}

export const RedisServerTag = RedisTestServer

/** Starts a server when the layer is built and stops it when the layer's scope closes (e.g. with `it.layer`). */
export const layerRedisServer = (options?: RedisServerOptions): Layer.Layer<RedisTestServer> =>
  Layer.scoped(
    RedisTestServer,
    Effect.acquireRelease(
      Effect.promise(() => startRedisServer(options)),
      (server) => Effect.promise(() => server.stop())
    )
  )
