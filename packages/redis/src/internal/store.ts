import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { clockNow } from "@circuit-breaker/core/internal"
import * as Cause from "effect/Cause"
import { Clock as ClockTag } from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type * as API from "../RedisCircuitBreakerStore.js"
import { CircuitSync } from "./circuitSync.js"
import * as codec from "./codec.js"
import { type Client, Connection } from "./connection.js"
import * as loop from "./loop.js"
import { ServerClock } from "./serverClock.js"
import { makeView, type Shared } from "./view.js"

export { escapeName } from "./circuitSync.js"
export { redact } from "./connection.js"

const liveClock = Context.get(DefaultServices.liveServices, ClockTag)

const policies: ReadonlyArray<unknown> = ["local", "allow", "reject"] satisfies Array<API.WhenUnavailable>

/** An option no store can work with: a defect, as an `IllegalArgumentException` naming it. */
export const invalidOption = (options: API.Options): string | undefined => {
  if (options.whenUnavailable !== undefined && !policies.includes(options.whenUnavailable)) {
    return `whenUnavailable must be "local", "allow" or "reject" (got ${JSON.stringify(options.whenUnavailable)})`
  }
  for (const name of ["storeTimeout", "flushInterval", "syncInterval", "idleTtl", "maxOpenPeriod"] as const) {
    const value = options[name]
    if (value === undefined) continue
    const decoded = Duration.decodeUnknown(value)
    if (decoded._tag === "None" || !Duration.isFinite(decoded.value) || Duration.toMillis(decoded.value) <= 0) {
      return `${name} must be a positive finite duration (got ${JSON.stringify(value)})`
    }
  }
  return undefined
}

const millis = (input: Duration.DurationInput | undefined, fallback: Duration.DurationInput): number =>
  Duration.toMillis(Duration.decode(input ?? fallback))

/** What the store does while Redis cannot be reached, as the warning says it. */
const degradedMeaning: Record<API.WhenUnavailable, string> = {
  local: "circuits decide on local state",
  allow: "every call is admitted",
  reject: "every call is rejected"
}

/** What the breakers on the store do while Redis is away, under each policy in use. */
const meaning = (views: Shared["views"], fallback: API.WhenUnavailable): string => {
  const policies = Object.keys(views) as Array<API.WhenUnavailable>
  return (policies.length === 0 ? [fallback] : policies).map((policy) => degradedMeaning[policy]).join("; ")
}

/** @internal */
export const make = (
  options: API.Options,
  client: Client | undefined
): Effect.Effect<API.RedisStore, never, Scope.Scope> =>
  Effect.gen(function* () {
    const invalid = invalidOption(options)
    if (invalid !== undefined) {
      return yield* Effect.die(new Cause.IllegalArgumentException(`RedisCircuitBreakerStore: ${invalid}`))
    }
    const prefix = options.prefix ?? "cb:v1:"
    const storeTimeout = millis(options.storeTimeout, 250)
    const instanceId = options.instanceId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
    const whenUnavailable = options.whenUnavailable ?? "local"
    const runtime = yield* Effect.runtime<never>()
    const clock = yield* Effect.clock
    const annotate = Effect.annotateLogs({ module: "RedisCircuitBreakerStore", instanceId })
    const fork = (effect: Effect.Effect<void, unknown>) => {
      Runtime.runFork(runtime)(annotate(Effect.ignore(effect)))
    }
    let sync: CircuitSync | undefined
    const views: Shared["views"] = {}
    const connection = new Connection(client ?? options, storeTimeout, (up, reason) => {
      fork(
        up
          ? Effect.logInfo("Redis reachable: circuits are shared")
          : Effect.logWarning(`Redis unreachable: ${meaning(views, whenUnavailable)} (${reason})`)
      )
      // Back from an outage: every circuit in use adopts what Redis holds now (a restart may have emptied it).
      if (up) sync?.refreshAll()
    })
    const serverClock = new ServerClock(
      () => clockNow(clock),
      () => clockNow(liveClock)
    )
    codec.warmUp()
    sync = new CircuitSync(
      connection,
      serverClock,
      {
        prefix,
        channel: `${prefix}events`,
        idleTtl: millis(options.idleTtl, "24 hours"),
        maxOpenPeriod: millis(options.maxOpenPeriod, "24 hours"),
        instanceId,
        announcementGrace: Math.max(2 * millis(options.flushInterval, 100), 250)
      },
      fork
    )
    const shared: Shared = { sync, connection, instanceId, syncInterval: millis(options.syncInterval, 1000), views }
    yield* subscribe(shared)
    const stop = loop.start(sync, {
      flushInterval: millis(options.flushInterval, 100),
      syncInterval: shared.syncInterval,
      pingWhenUp: () =>
        whenUnavailable !== "local" || shared.views.allow !== undefined || shared.views.reject !== undefined,
      run: (effect) => Runtime.runPromise(runtime)(annotate(effect))
    })
    yield* Effect.addFinalizer(() => release(shared, stop))
    return makeView(shared, whenUnavailable)
  })

/** Announced changes from other processes are adopted at once; after a reconnect everything is read again. */
const subscribe = (shared: Shared) =>
  Effect.sync(() => {
    const { connection, sync } = shared
    const subscriber = connection.subscriber
    connection.listen(subscriber, "message", (_channel: string, message: string) => sync.announced(message))
    connection.listenOnEveryMaster(sync.config.channel, (message) => sync.announced(message))
    connection.listen(subscriber, "ready", () => {
      // What was announced while it was away is read below: counting starts again.
      sync.changes.reset()
      // Subscribes on every connection; messages may have been lost while it was away, so once
      // the subscription is in place every circuit in use is read again.
      subscriber.subscribe(sync.config.channel).then(
        () => sync.refreshAll(),
        () => {}
      )
    })
    connection.listen(subscriber, "error", () => {
      // The subscriber only speeds up what reads do anyway: ioredis reconnects and resubscribes it.
    })
  })

/** Writes what is pending (within the store timeout), then closes the connections. */
const release = (shared: Shared, stop: () => void) =>
  Effect.withClock(liveClock)(
    Effect.gen(function* () {
      stop()
      const pending = Array.from(shared.sync.cells.values()).filter((cell) => cell.pending !== undefined)
      yield* Effect.forEach(pending, (cell) => shared.sync.write(cell, undefined), {
        discard: true,
        concurrency: "unbounded"
      }).pipe(Effect.timeout(shared.connection.storeTimeout), Effect.ignore)
      yield* Effect.promise(() => shared.connection.close())
    })
  )

export { hardenedOptions } from "./connection.js"
