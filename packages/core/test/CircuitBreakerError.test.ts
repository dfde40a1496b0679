import { inspect } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import * as Hash from "effect/Hash"
import {
  BulkheadRejectedError,
  CircuitBreakerConfigError,
  CircuitOpenError,
  CircuitStoreError,
  isCircuitBreakerError,
  TypeId
} from "../src/CircuitBreakerError.js"

/** What `Data.TaggedError` makes, for the comparison: the errors are built like it without loading `effect/Data`. */
class DataConfigError extends Data.TaggedError("CircuitBreakerConfigError")<{
  readonly option: string
  readonly value: unknown
  readonly reason: string
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `Invalid circuit breaker option "${this.option}": ${this.reason} (got ${this.value})`
  }
}

const config = () => new CircuitBreakerConfigError({ option: "timeout", value: -1, reason: "must be positive" })
const reference = () => new DataConfigError({ option: "timeout", value: -1, reason: "must be positive" })

describe("the circuit breaker errors", () => {
  it("are Errors with the tag as name and _tag, and the fields given", () => {
    const error = config()
    expect(error).toBeInstanceOf(Error)
    expect(error).toBeInstanceOf(CircuitBreakerConfigError)
    expect(error._tag).toBe("CircuitBreakerConfigError")
    expect(error.name).toBe("CircuitBreakerConfigError")
    expect(error.option).toBe("timeout")
    expect(error.message).toBe('Invalid circuit breaker option "timeout": must be positive (got -1)')
    expect(error.stack).toContain("CircuitBreakerConfigError")
    expect(isCircuitBreakerError(error)).toBe(true)
  })

  it.effect("fail an Effect when yielded, and Effect.catchTag handles them by tag", () =>
    Effect.gen(function* () {
      const error = new BulkheadRejectedError({ circuit: "c", reason: "Full", maxConcurrent: 1, maxQueue: 0 })
      const exit = yield* Effect.exit(
        Effect.gen(function* () {
          return yield* error
        })
      )
      expect(exit).toStrictEqual(Exit.fail(error))
      expect(yield* Effect.flip(error)).toBe(error)
      const handled = yield* Effect.catchTag(error, "BulkheadRejectedError", (e) => Effect.succeed(e.reason))
      expect(handled).toBe("Full")
      const piped = yield* error.pipe(Effect.catchAll(() => Effect.succeed("piped")))
      expect(piped).toBe("piped")
    })
  )

  it("compare and hash structurally, as Data.TaggedError does", () => {
    const retryAfter = Duration.millis(5)
    const a = new CircuitOpenError({ circuit: "c", retryAfter })
    expect(Equal.equals(a, new CircuitOpenError({ circuit: "c", retryAfter }))).toBe(true)
    expect(Equal.equals(a, new CircuitOpenError({ circuit: "d", retryAfter }))).toBe(false)
    expect(Hash.hash(a)).toBe(Hash.hash(new CircuitOpenError({ circuit: "c", retryAfter })))
    expect(Equal.equals(config(), config())).toBe(Equal.equals(reference(), reference()))
  })

  it("serialise and inspect as Data.TaggedError does", () => {
    expect(config().toJSON()).toEqual(reference().toJSON())
    expect(JSON.stringify(config())).toBe(JSON.stringify(reference()))
    const cause = new Error("socket closed")
    const store = new CircuitStoreError({ reason: "Unavailable", detail: "down", cause })
    expect(store.cause).toBe(cause)
    const [first, ...stack] = inspect(config()).split("\n")
    expect(first).toBe(`CircuitBreakerConfigError: ${config().message}`)
    expect(inspect(reference()).split("\n")[0]).toContain(`[CircuitBreakerConfigError]: ${config().message}`)
    expect(stack[0]).toMatch(/^\s+at /)
  })
})
