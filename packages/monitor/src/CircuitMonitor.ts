/**
 * A monitor for the circuit breakers of a process, of both APIs, with no glue code: every
 * breaker registers itself when it is made.
 *
 * - `GET /metrics`: the Prometheus text exposition.
 * - `GET /circuits`, `GET /circuits/:name`: JSON; with a shared (Redis) store, also every circuit under its prefix.
 * - `GET /events`: Server-Sent Events (`snapshot`, `circuit`, `state`, and `outcomes` once a second).
 * - `GET /`: a live dashboard.
 * - `POST /circuits/:name/trip|reset|isolate|release`: manual control, cluster-wide with a shared store.
 *
 * ```ts
 * // Promise code
 * import { CircuitMonitor } from "@circuit-breaker/monitor"
 *
 * const monitor = await CircuitMonitor.serve({ port: 9465 })
 * console.log(`dashboard at ${monitor.url}`)
 * await monitor.close()
 *
 * // Effect code: the server lives as long as the layer
 * Layer.launch(CircuitMonitor.layer({ port: 9465 })).pipe(NodeRuntime.runMain)
 * ```
 *
 * @since 0.1.0
 */
import type { CircuitBreakerConfigError } from "@circuit-breaker/core"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import type { RedisOptions } from "ioredis"
import { makeRouter } from "./internal/router.js"
import * as server from "./internal/server.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The port (default 9465; 0 picks a free one). */
  readonly port?: number | undefined
  /** The address to listen on (default `127.0.0.1`, this machine only). */
  readonly host?: string | undefined
  /**
   * A bearer token every route then requires (`Authorization: Bearer <token>`). Without one, the
   * POST routes answer 401 whenever `host` is not a loopback address.
   */
  readonly token?: string | Redacted.Redacted<string> | undefined
  /**
   * Redis, for the cluster-wide view and commands when the context holds no shared store: a
   * `redis://` URL or ioredis options.
   */
  readonly redis?: string | RedisOptions | undefined
  /** The key prefix of the circuits in Redis (default the store's, `cb:v1:`). */
  readonly prefix?: string | undefined
  /** How long a trip keeps a stored circuit open that no breaker of this process runs (default 30 s). */
  readonly resetTimeout?: Duration.DurationInput | undefined
}

/**
 * A running monitor.
 *
 * @since 0.1.0
 * @category models
 */
export interface Monitor {
  readonly host: string
  readonly port: number
  /** The dashboard's address. */
  readonly url: string
  /** How many `/events` streams are open. */
  readonly openStreams: number
}

/**
 * A monitor started by {@link serve}.
 *
 * @since 0.1.0
 * @category models
 */
export interface MonitorHandle extends Monitor, AsyncDisposable {
  /** Ends every open stream and connection, then stops the server. */
  close(): Promise<void>
}

/**
 * The monitor's routes, to mount in an `HttpRouter` of your own (for instance with
 * `HttpRouter.mount("/breakers", routes)`). A shared store in the context gives the cluster view.
 *
 * @example
 * ```ts
 * const app = Effect.map(CircuitMonitor.router({ token }), (routes) => HttpRouter.mount(myRouter, "/breakers", routes))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const router = (
  options: Options = {}
): Effect.Effect<HttpRouter.HttpRouter, CircuitBreakerConfigError, Scope.Scope> =>
  Effect.gen(function* () {
    yield* server.validate(options)
    const store = yield* server.sharedStore(options)
    return makeRouter(server.routerConfig(options, store, Effect.never, { count: 0 }))
  })

/**
 * The monitor served on its own port for as long as the layer lives.
 *
 * @example
 * ```ts
 * Layer.launch(CircuitMonitor.layer({ port: 9465 })).pipe(NodeRuntime.runMain)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<never, CircuitBreakerConfigError | HttpServerError.ServeError> =>
  Layer.scopedDiscard(
    Effect.tap(server.start(options), (monitor) => Effect.logInfo(`circuit breaker monitor on ${monitor.url}`))
  )

/**
 * Starts the monitor from Promise code.
 *
 * @example
 * ```ts
 * import { CircuitMonitor } from "@circuit-breaker/monitor"
 *
 * const monitor = await CircuitMonitor.serve({ port: 9465, token: process.env.MONITOR_TOKEN })
 * process.on("SIGTERM", () => monitor.close())
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve = async (options: Options = {}): Promise<MonitorHandle> => {
  const scope = Effect.runSync(Scope.make())
  const started = await Effect.runPromiseExit(Scope.extend(server.start(options), scope))
  if (Exit.isFailure(started)) {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    throw Exit.isFailure(started) && started.cause._tag === "Fail"
      ? started.cause.error
      : new Error("the monitor did not start")
  }
  const monitor = started.value
  let closed: Promise<void> | undefined
  const close = () => (closed ??= Effect.runPromise(Scope.close(scope, Exit.void)))
  return {
    host: monitor.host,
    port: monitor.port,
    url: monitor.url,
    get openStreams() {
      return monitor.openStreams
    },
    close,
    [Symbol.asyncDispose]: close
  }
}
