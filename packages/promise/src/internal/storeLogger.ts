import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Logger from "effect/Logger"
import { type Log, levelOf } from "./logger.js"

/**
 * Runs `effect` (the shared store's making, and so every fiber it forks) with the Promise
 * breaker's logger in place of Effect's default one, which prints to stdout; without a
 * logger, with none. Loaded with the store, only by a breaker with `distributedTracking`.
 */
export const withStoreLogger = <A, E>(
  effect: Effect.Effect<A, E>,
  circuit: string,
  log: Log | undefined
): Effect.Effect<A, E> => {
  const logger =
    log === undefined
      ? Logger.none
      : Logger.make(({ annotations, date, logLevel, message }) =>
          log({
            level: levelOf(logLevel._tag),
            message: Array.isArray(message) ? message.map(String).join(" ") : String(message),
            circuit,
            time: date.getTime(),
            annotations: Object.fromEntries(HashMap.toEntries(annotations))
          })
        )
  return Effect.provide(effect, Logger.replace(Logger.defaultLogger, logger))
}
