import { CircuitBreakerConfigError, type CircuitBreakerStore } from "@circuit-breaker/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type * as API from "../AdvancedCircuitBreaker.js"

/** Where the shared store connects: a URL, ioredis options, or a client the caller owns. */
export type RedisTarget =
  | { readonly _tag: "Url"; readonly url: string }
  | { readonly _tag: "Options"; readonly options: Record<string, unknown> }
  | { readonly _tag: "Client"; readonly client: unknown }

const isClient = (u: unknown): boolean =>
  typeof u === "object" &&
  u !== null &&
  typeof (u as { duplicate?: unknown }).duplicate === "function" &&
  typeof (u as { defineCommand?: unknown }).defineCommand === "function"

/**
 * `REDIS_URL` from a `.env` file in the working directory, if there is one. Node's own parser;
 * the built-ins are reached through `process` only here, so that a bundle for another platform
 * reaches none.
 */
const fromDotEnv = (cwd: string): string | undefined => {
  const { readFileSync } = process.getBuiltinModule("node:fs")
  const { parseEnv } = process.getBuiltinModule("node:util")
  let text: string
  try {
    text = readFileSync(`${cwd}/.env`, "utf8")
  } catch {
    return undefined
  }
  return parseEnv(text).REDIS_URL
}

/**
 * The explicit `redis` option first, then `REDIS_URL` from the environment, then from a
 * `.env` file in the working directory. Throws a config error naming `redis` otherwise.
 */
export const resolveTarget = (redis: API.Options["redis"], cwd = process.cwd()): RedisTarget => {
  if (redis !== undefined) {
    if (typeof redis === "string") {
      if (!/^rediss?:\/\//i.test(redis)) {
        throw new CircuitBreakerConfigError({
          option: "redis",
          value: "(redacted)",
          reason: "must be a redis:// or rediss:// URL, ioredis options, or an ioredis client"
        })
      }
      return { _tag: "Url", url: redis }
    }
    if (isClient(redis)) return { _tag: "Client", client: redis }
    if (typeof redis === "object" && redis !== null && !Array.isArray(redis)) {
      return { _tag: "Options", options: redis as Record<string, unknown> }
    }
    throw new CircuitBreakerConfigError({
      option: "redis",
      value: redis,
      reason: "must be a redis:// or rediss:// URL, ioredis options, or an ioredis client"
    })
  }
  const url = process.env.REDIS_URL || fromDotEnv(cwd)
  if (url) return { _tag: "Url", url }
  throw new CircuitBreakerConfigError({
    option: "redis",
    value: undefined,
    reason:
      "distributedTracking needs Redis: set REDIS_URL, put REDIS_URL in a .env file in the working directory, or pass the redis option"
  })
}

/** The part of the Redis store the Promise API uses. */
export interface SharedStore extends CircuitBreakerStore.Store {
  readonly snapshot: (name: string) => Effect.Effect<
    import("effect/Option").Option<{
      readonly state: import("@circuit-breaker/core").CircuitBreakerState.CircuitState<unknown>
      readonly updatedAt: number | null
      readonly updatedBy: string | null
    }>,
    unknown
  >
  readonly listCircuits: Effect.Effect<ReadonlyArray<string>, unknown>
}

/** A shared store being opened: usable once `ready` resolves; `close` releases its connections. */
export interface Connection {
  readonly ready: Promise<SharedStore>
  close(): Promise<void>
}

/** Opens the Redis store; its code is loaded only now, when a breaker asks for it. */
export const connect = (target: RedisTarget): Connection => {
  const scope = Effect.runSync(Scope.make())
  const ready = import("@circuit-breaker/redis").then(({ RedisCircuitBreakerStore }) =>
    Effect.runPromise(
      Scope.extend(
        target._tag === "Client"
          ? RedisCircuitBreakerStore.makeFromClient(target.client as never)
          : RedisCircuitBreakerStore.make(target._tag === "Url" ? { url: target.url } : { redis: target.options }),
        scope
      )
    )
  )
  // A failure to load is reported by whoever awaits `ready`; never as an unhandled rejection.
  ready.catch(() => {})
  return {
    ready: ready as Promise<SharedStore>,
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
