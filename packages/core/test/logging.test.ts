import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as CircuitBreaker from "../src/CircuitBreaker.js"

/** Trips a breaker with `logger` in place of the default one; the log lines it wrote, with their levels. */
const tripLogged = (name: string, minimum?: LogLevel.LogLevel) => {
  const lines: Array<{ readonly level: string; readonly message: string }> = []
  const logger = Logger.make(({ logLevel, message }) => {
    lines.push({ level: logLevel.label, message: Array.isArray(message) ? message.join(" ") : String(message) })
  })
  const program = Effect.gen(function* () {
    const breaker = yield* CircuitBreaker.make({ name, failureThreshold: 1, maxRetries: 0 })
    yield* Effect.either(breaker.execute(Effect.fail("down")))
    expect((yield* breaker.state)._tag).toBe("Open")
    return lines
  }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
  return minimum === undefined ? program : program.pipe(Logger.withMinimumLogLevel(minimum))
}

describe("the Effect API's logs", () => {
  it.effect("a change of state is logged at Info, through Effect's logger", () =>
    Effect.gen(function* () {
      const lines = yield* tripLogged("logging-info")
      expect(lines).toContainEqual({ level: "INFO", message: "circuit Closed -> Open" })
    })
  )

  it.effect("Logger.minimumLogLevel above Info silences them", () =>
    Effect.gen(function* () {
      const lines = yield* tripLogged("logging-warning", LogLevel.Warning)
      expect(lines.filter((line) => line.message.startsWith("circuit "))).toEqual([])
    })
  )
})
