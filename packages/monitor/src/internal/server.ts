import { createServer } from "node:http"
import { CircuitBreakerConfigError, CircuitBreakerStore } from "@circuit-breaker/core"
import { RedisCircuitBreakerStore } from "@circuit-breaker/redis"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as API from "../CircuitMonitor.js"
import * as Cluster from "./cluster.js"
import { makeApp, type RouterConfig } from "./router.js"

export const DEFAULT_PORT = 9465
export const DEFAULT_HOST = "127.0.0.1"

/** Whether `host` is a loopback address: nothing off this machine can reach a server bound to it. */
export const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host) || host === "::ffff:127.0.0.1"

const invalid = (option: string, value: unknown, reason: string) =>
  new CircuitBreakerConfigError({ option, value, reason })

/** The options checked, or the first bad one named (a token is never shown). */
export const validate = (options: API.Options): Effect.Effect<API.Options, CircuitBreakerConfigError> => {
  const { port, host, token } = options
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    return Effect.fail(invalid("port", port, "must be an integer from 0 to 65535"))
  }
  if (host !== undefined && (typeof host !== "string" || host === "")) {
    return Effect.fail(invalid("host", host, "must be a host name or an IP address"))
  }
  const raw = Redacted.isRedacted(token) ? Redacted.value(token as Redacted.Redacted<string>) : token
  if (raw !== undefined && (typeof raw !== "string" || raw.trim() === "")) {
    return Effect.fail(invalid("token", "(redacted)", "must be a non-empty string"))
  }
  return Effect.succeed(options)
}

const tokenOf = (token: API.Options["token"]): Redacted.Redacted<string> | undefined =>
  token === undefined
    ? undefined
    : Redacted.isRedacted(token)
      ? (token as Redacted.Redacted<string>)
      : Redacted.make(token)

/** The shared store the monitor reads the cluster from: the context's, or one opened for `redis`. */
export const sharedStore = (options: API.Options): Effect.Effect<Cluster.SharedStore | undefined, never, Scope.Scope> =>
  Effect.flatMap(Effect.serviceOption(CircuitBreakerStore.CircuitBreakerStore), (store) => {
    if (Option.isSome(store) && Cluster.isSharedStore(store.value)) return Effect.succeed(store.value)
    if (options.redis === undefined) return Effect.succeed(undefined)
    const prefix = options.prefix === undefined ? {} : { prefix: options.prefix }
    return RedisCircuitBreakerStore.make(
      typeof options.redis === "string" ? { url: options.redis, ...prefix } : { redis: options.redis, ...prefix }
    ) as Effect.Effect<Cluster.SharedStore, never, Scope.Scope>
  })

/** The routes' configuration; `closing` completes when the server closes. */
export const routerConfig = (
  options: API.Options,
  store: Cluster.SharedStore | undefined,
  closing: Effect.Effect<void>,
  openStreams: { count: number }
): RouterConfig => ({
  token: tokenOf(options.token),
  loopback: isLoopback(options.host ?? DEFAULT_HOST),
  store,
  resetTimeout: options.resetTimeout ?? Duration.seconds(30),
  closing,
  openStreams
})

/** Starts the server in the scope; closing the scope ends every open stream and connection, then the server. */
export const start = (
  options: API.Options
): Effect.Effect<API.Monitor, CircuitBreakerConfigError | HttpServerError.ServeError, Scope.Scope> =>
  Effect.gen(function* () {
    yield* validate(options)
    const host = options.host ?? DEFAULT_HOST
    const store = yield* sharedStore(options)
    const node = createServer()
    const server = yield* NodeHttpServer.make(() => node, { port: options.port ?? DEFAULT_PORT, host })
    const closing = yield* Deferred.make<void>()
    const openStreams = { count: 0 }
    yield* Effect.addFinalizer(() =>
      Effect.zipRight(
        Deferred.succeed(closing, undefined),
        Effect.sync(() => node.closeAllConnections())
      )
    )
    yield* server.serve(makeApp(routerConfig(options, store, Deferred.await(closing), openStreams)))
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    const urlHost = host.includes(":") ? `[${host}]` : host
    return {
      host,
      port,
      url: `http://${urlHost}:${port}/`,
      get openStreams() {
        return openStreams.count
      }
    }
  })
