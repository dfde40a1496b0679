import { createHash, timingSafeEqual } from "node:crypto"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { type Action, actions, type Circuit, liveCircuits } from "./circuits.js"
import * as Cluster from "./cluster.js"
import { dashboardHtml } from "./dashboard.js"
import { eventStream } from "./events.js"
import * as Prometheus from "./prometheus.js"
import { circuitViews } from "./views.js"

/** What the routes need: the options, the shared store if any, and the server's lifecycle. */
export interface RouterConfig {
  readonly token: Redacted.Redacted<string> | undefined
  /** Whether the server listens on loopback only (manual control then needs no token). */
  readonly loopback: boolean
  readonly store: Cluster.SharedStore | undefined
  /** The `resetTimeout` of a trip made on a stored circuit that no breaker of this process runs. */
  readonly resetTimeout: Duration.DurationInput
  /** Completes when the server closes: open `/events` streams end then. */
  readonly closing: Effect.Effect<void>
  readonly openStreams: { count: number }
  readonly circuits?: (() => ReadonlyArray<Circuit>) | undefined
}

const common = { "cache-control": "no-store", "x-content-type-options": "nosniff" }

const json = (status: number, body: unknown) => HttpServerResponse.unsafeJson(body, { status, headers: common })

const error = (status: number, message: string) => json(status, { error: message })

const digest = (text: string) => createHash("sha256").update(text).digest()

/** Compares in constant time (over digests, so the lengths do not show either). */
const tokenMatches = (token: Redacted.Redacted<string>, header: string | undefined): boolean => {
  const match = header === undefined ? undefined : /^Bearer\s+(.+)$/i.exec(header.trim())
  return match !== undefined && match !== null && timingSafeEqual(digest(match[1]!), digest(Redacted.value(token)))
}

const unauthorized = (message: string) =>
  HttpServerResponse.unsafeJson(
    { error: message },
    { status: 401, headers: { ...common, "www-authenticate": 'Bearer realm="circuit-breaker"' } }
  )

/** The bearer-token rule: every route when a token is set; a POST always, off loopback. */
const guard = <E, R>(
  config: RouterConfig,
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
  onRefusal: (message: string) => HttpServerResponse.HttpServerResponse = unauthorized
) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const isPost = request.method === "POST"
    if (config.token === undefined) {
      return isPost && !config.loopback
        ? Effect.succeed(unauthorized("manual control needs a token when the monitor listens beyond loopback"))
        : handler
    }
    return tokenMatches(config.token, request.headers.authorization)
      ? handler
      : Effect.succeed(onRefusal("a valid bearer token is required"))
  })

/** The longest path parameter the router matches (find-my-way's default `maxParamLength`). */
const MAX_NAME = 100

/** The circuit name of a path, or a reason it is malformed. */
const nameParam = Effect.map(HttpRouter.params, (params): string | { readonly malformed: string } => {
  const raw = params.name
  if (raw === undefined || raw === "") return { malformed: "a circuit name is required" }
  if (raw.length > MAX_NAME) return { malformed: `a circuit name is at most ${MAX_NAME} characters` }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(raw)) return { malformed: "a circuit name has no control characters" }
  return raw
})

const notFound = (name: string) => error(404, `no circuit named ${JSON.stringify(name)}`)

const runControl = (config: RouterConfig, name: string, action: Action, local: ReadonlyArray<Circuit>) =>
  Effect.gen(function* () {
    const started = local.map((circuit) => circuit.control(action)).filter((p) => p !== undefined)
    yield* Effect.promise(() => Promise.all(started))
    const sharedByBreaker = local.some((circuit) => circuit.distributed)
    let stored = false
    if (config.store !== undefined && !sharedByBreaker) {
      stored = yield* Cluster.command(config.store, name, action, config.resetTimeout)
    }
    if (started.length === 0 && !stored) {
      if (local.length === 0) return notFound(name)
      return action === "release"
        ? error(409, `no isolation of ${JSON.stringify(name)} made through this monitor is left to release`)
        : error(501, `${action} is not supported by the breakers of ${JSON.stringify(name)}`)
    }
    const state = local[0]?.state()
    return json(200, {
      circuit: name,
      action,
      scope: sharedByBreaker || stored ? "cluster" : "process",
      ...(state === undefined ? {} : { state })
    })
  })

const control = (config: RouterConfig, circuits: () => ReadonlyArray<Circuit>) =>
  Effect.gen(function* () {
    const name = yield* nameParam
    if (typeof name !== "string") return error(400, name.malformed)
    const action = (yield* HttpRouter.params).action as Action
    if (!actions.includes(action))
      return error(400, `unknown action ${JSON.stringify(action)}: one of ${actions.join(", ")}`)
    return yield* runControl(
      config,
      name,
      action,
      circuits().filter((c) => c.name === name)
    )
  })

const cluster = (config: RouterConfig) =>
  config.store === undefined
    ? Effect.succeed(null)
    : Effect.match(Cluster.clusterCircuits(config.store), {
        onFailure: (e) => ({ error: `the shared store could not be read (${e.reason})` }),
        onSuccess: (circuits) => ({ circuits })
      })

const oneCircuit = (config: RouterConfig, circuits: () => ReadonlyArray<Circuit>) =>
  Effect.gen(function* () {
    const name = yield* nameParam
    if (typeof name !== "string") return error(400, name.malformed)
    const local = circuitViews(circuits().filter((c) => c.name === name))[0]
    const stored =
      config.store === undefined
        ? Option.none()
        : yield* Effect.orElseSucceed(Cluster.clusterCircuit(config.store, name), () => Option.none())
    if (local === undefined && Option.isNone(stored)) return notFound(name)
    return json(200, { ...(local ?? { name }), cluster: Option.getOrNull(stored) })
  })

/**
 * Every route of the monitor. Errors never show their details: a failure of a handler is a
 * 500 with a generic message.
 */
export const makeRouter = (config: RouterConfig): HttpRouter.HttpRouter<never, never> => {
  const circuits = config.circuits ?? liveCircuits
  return HttpRouter.empty.pipe(
    HttpRouter.get(
      "/",
      guard(config, Effect.succeed(HttpServerResponse.html(dashboardHtml)), () =>
        // The page asks for the token itself; it holds no data and no secret.
        HttpServerResponse.html(dashboardHtml).pipe(
          HttpServerResponse.setStatus(401),
          HttpServerResponse.setHeader("www-authenticate", 'Bearer realm="circuit-breaker"')
        )
      ).pipe(Effect.map(HttpServerResponse.setHeaders({ ...common, "content-security-policy": csp })))
    ),
    HttpRouter.get(
      "/metrics",
      guard(
        config,
        Effect.sync(() =>
          HttpServerResponse.text(Prometheus.render(circuits()), {
            contentType: Prometheus.contentType,
            headers: common
          })
        )
      )
    ),
    HttpRouter.get(
      "/circuits",
      guard(
        config,
        Effect.map(cluster(config), (shared) =>
          json(200, { at: Date.now(), circuits: circuitViews(circuits()), cluster: shared })
        )
      )
    ),
    HttpRouter.get("/circuits/:name", guard(config, oneCircuit(config, circuits))),
    HttpRouter.get(
      "/events",
      guard(
        config,
        Effect.sync(() =>
          HttpServerResponse.stream(eventStream(circuits, config.closing, config.openStreams), {
            contentType: "text/event-stream",
            headers: { ...common, connection: "keep-alive", "x-accel-buffering": "no" }
          })
        )
      )
    ),
    HttpRouter.post("/circuits/:name/:action", guard(config, control(config, circuits))),
    HttpRouter.catchAllCause(() => Effect.succeed(error(500, "internal error")))
  ) as HttpRouter.HttpRouter<never, never>
}

/** The dashboard reaches its own server only. */
const csp =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"

const isMalformedUrl = (url: string): boolean => {
  try {
    decodeURIComponent(url)
    return false
  } catch {
    return true
  }
}

/** The routes, with a 400 for a URL that does not decode (the router would answer an empty 404). */
export const makeApp = (config: RouterConfig) => {
  const router = makeRouter(config)
  return Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    isMalformedUrl(request.url)
      ? Effect.succeed(error(400, "the URL is not validly percent-encoded"))
      : Effect.catchTag(router, "RouteNotFound", () =>
          Effect.succeed(
            new URL(request.url, "http://monitor").pathname.startsWith("/circuits/")
              ? error(400, `a circuit route is /circuits/NAME[/ACTION], NAME at most ${MAX_NAME} characters`)
              : error(404, "no such route")
          )
        )
  )
}
