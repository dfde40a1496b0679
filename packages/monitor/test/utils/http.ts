import * as HttpApp from "@effect/platform/HttpApp"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { Circuit } from "../../src/internal/circuits.js"
import type * as Cluster from "../../src/internal/cluster.js"
import { makeApp } from "../../src/internal/router.js"

export interface AppOptions {
  readonly token?: string
  readonly loopback?: boolean
  readonly store?: Cluster.SharedStore
  readonly circuits?: () => ReadonlyArray<Circuit>
}

/** The monitor's routes as a fetch-style handler, with no server: `request("/metrics")`. */
export const handlerOf = (options: AppOptions = {}) => {
  const handler = HttpApp.toWebHandler(
    makeApp({
      token: options.token === undefined ? undefined : Redacted.make(options.token),
      loopback: options.loopback ?? true,
      store: options.store,
      resetTimeout: "30 seconds",
      closing: Effect.never,
      openStreams: { count: 0 },
      circuits: options.circuits
    })
  )
  return (path: string, init?: RequestInit): Promise<Response> =>
    handler(new Request(`http://monitor.test${path}`, init))
}
