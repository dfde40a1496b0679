import { CircuitBreakerConfigError } from "@circuit-breaker/core/CircuitBreakerError"
import type * as API from "../AdvancedCircuitBreaker.js"

/** Where a breaker's log entries go; `undefined`: nowhere (the default). */
export type Log = (entry: API.LogEntry) => void

const levels = ["debug", "info", "warn", "error"] as const

const isConsoleLike = (u: unknown): u is API.ConsoleLike =>
  typeof u === "object" &&
  u !== null &&
  levels.every((level) => typeof (u as Record<string, unknown>)[level] === "function")

/**
 * The `logger` option as a function of one entry: a function is used as it is; a console
 * (anything with `debug`, `info`, `warn` and `error`) gets `console[level](line, annotations)`.
 * A logger that throws never breaks a call. Throws a config error naming `logger` otherwise.
 */
export const toLog = (option: unknown): Log | undefined => {
  if (option === undefined) return undefined
  if (typeof option === "function") return guarded(option as Log)
  if (isConsoleLike(option)) {
    return guarded((entry) => {
      const line = `circuit-breaker ${entry.circuit}: ${entry.message}`
      if (Object.keys(entry.annotations).length === 0) option[entry.level](line)
      else option[entry.level](line, entry.annotations)
    })
  }
  throw new CircuitBreakerConfigError({
    option: "logger",
    value: option,
    reason: "must be a function of a log entry, or a console (an object with debug, info, warn and error methods)"
  })
}

const guarded =
  (log: Log): Log =>
  (entry) => {
    try {
      log(entry)
    } catch {
      // A logger's own failure is not the call's: it is dropped.
    }
  }

/** A log level's name (Effect's label or tag, such as `"WARN"` or `"Warning"`) as a Promise-API level. */
export const levelOf = (effectLevel: string): API.LogEntry["level"] => {
  switch (effectLevel.toUpperCase()) {
    case "FATAL":
    case "ERROR":
      return "error"
    case "WARN":
    case "WARNING":
      return "warn"
    case "INFO":
      return "info"
    default:
      return "debug"
  }
}

/** The breaker's logger as the shared store's `log`: each store line an entry of the circuit. */
export const toStoreLog =
  (log: Log, circuit: string) =>
  (entry: API.StoreLogEntry): void =>
    log({ level: levelOf(entry.level), message: entry.message, circuit, time: Date.now(), annotations: {} })
