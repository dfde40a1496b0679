import { CircuitBreakerConfigError } from "@circuit-breaker/core/CircuitBreakerError"
import * as CircuitBreakerOptions from "@circuit-breaker/core/CircuitBreakerOptions"
import * as Either from "effect/Either"
import type * as API from "../AdvancedCircuitBreaker.js"
import { Breaker } from "./breaker.js"
import { resolveStoreOptions, resolveTarget, type SharedTarget, type StoreOptions } from "./distributed.js"
import { type Log, toLog, toStoreLog } from "./logger.js"
import { splitPromiseOptions, withDefaultName } from "./support.js"

/** Without its own `store.log`, the shared store logs to the breaker's `logger` (or nowhere). */
const withLogger = (options: StoreOptions, log: Log | undefined, circuit: string): StoreOptions =>
  options.log !== undefined || log === undefined ? options : { ...options, log: toStoreLog(log, circuit) }

/** @internal */
export const create = <Args extends ReadonlyArray<unknown>, R>(
  fn: (...args: ReadonlyArray<any>) => R | PromiseLike<R>,
  options?: API.Options
): API.AdvancedCircuitBreaker<Args, Awaited<R>> => {
  if (typeof fn !== "function") {
    throw new CircuitBreakerConfigError({ option: "fn", value: fn, reason: "must be a function" })
  }
  const [coreOptions, { fallback, passContext, redis, store, logger }] = splitPromiseOptions(options)
  const checkedFallback = CircuitBreakerOptions.fallbackOf(fallback)
  if (Either.isLeft(checkedFallback)) throw checkedFallback.left
  if (passContext !== undefined && typeof passContext !== "boolean") {
    throw new CircuitBreakerConfigError({ option: "passContext", value: passContext, reason: "must be true or false" })
  }
  const log = toLog(logger)
  const resolved = CircuitBreakerOptions.resolve(withDefaultName(coreOptions, fn))
  if (Either.isLeft(resolved)) throw resolved.left
  for (const [option, value] of [
    ["redis", redis],
    ["store", store]
  ] as const) {
    if (value !== undefined && !resolved.right.distributedTracking) {
      throw new CircuitBreakerConfigError({
        option,
        value: "(redacted)",
        reason: "is used only with distributedTracking: true"
      })
    }
  }
  const target: SharedTarget | undefined = resolved.right.distributedTracking
    ? [resolveTarget(redis), withLogger(resolveStoreOptions(store), log, resolved.right.name)]
    : undefined
  return new Breaker<Args, Awaited<R>>(
    fn as (...args: ReadonlyArray<unknown>) => unknown,
    resolved.right,
    target,
    passContext === true,
    log,
    checkedFallback.right
  )
}
