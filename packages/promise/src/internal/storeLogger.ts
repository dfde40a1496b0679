import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import type * as API from "../AdvancedCircuitBreaker.js"

/**
 * Runs `effect` (the shared store's making, and so every fiber it forks, or one of its
 * operations) with the store's `log` in place of Effect's default logger, which prints to
 * stdout; without one (or `"silent"`), with none. Loaded with the store, only by a breaker with
 * `distributedTracking`.
 */
export const withStoreLog = <A, E>(
  effect: Effect.Effect<A, E>,
  log: "silent" | ((entry: API.StoreLogEntry) => void) | undefined
): Effect.Effect<A, E> => {
  const logger =
    log === undefined || log === "silent"
      ? Logger.none
      : Logger.make(({ logLevel, message }) => {
          try {
            log({ level: logLevel.label, message: Array.isArray(message) ? message.join(" ") : String(message) })
          } catch {
            // A log function that throws never breaks the store.
          }
        })
  return Effect.provide(effect, Logger.replace(Logger.defaultLogger, logger))
}
