import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Schedule, TestClock } from "effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import { CircuitBreakerConfigError, describeValue } from "../src/CircuitBreakerError.js"
import * as CircuitBreakerOptions from "../src/CircuitBreakerOptions.js"

type Options = CircuitBreaker.CircuitBreaker.Options

/** `make` with any input: the tests feed it values its type forbids. */
const makeUnchecked = (options: unknown) => CircuitBreaker.make(options as Options)

/**
 * The error `make` fails with; a success fails the test (with a short message: the breaker itself is too big
 * an object for the test reporter to print).
 */
const configError = (options: unknown) =>
  Effect.matchEffect(makeUnchecked(options), {
    onFailure: Effect.succeed,
    onSuccess: () => Effect.dieMessage("make succeeded; expected a CircuitBreakerConfigError")
  })

/** The options `make` resolves; a failure fails the test. */
const resolved = (options: unknown) => Effect.map(makeUnchecked(options), (breaker) => breaker.options)

const millis = (d: Duration.Duration): number => Duration.toMillis(d)

/** "Success", or the tag of the failure's cause: "Fail" for a typed error, "Die" for a defect. */
const outcome = (exit: Exit.Exit<unknown, unknown>): string => (Exit.isSuccess(exit) ? "Success" : exit.cause._tag)

const squashed = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : typeof error
}

interface InvalidCase {
  readonly option: string
  readonly value: unknown
  readonly label: string
}

const cases = (option: string, values: ReadonlyArray<readonly [string, unknown]>): Array<InvalidCase> =>
  values.map(([label, value]) => ({ option, value, label }))

const badCounts: ReadonlyArray<readonly [string, unknown]> = [
  ["0", 0],
  ["-1", -1],
  ["1.5", 1.5],
  ["NaN", Number.NaN],
  ["Infinity", Number.POSITIVE_INFINITY],
  ['"5"', "5"],
  ["null", null]
]

const badFlags: ReadonlyArray<readonly [string, unknown]> = [
  ['"yes"', "yes"],
  ["1", 1]
]

const invalid: ReadonlyArray<InvalidCase> = [
  ...cases("failureThreshold", badCounts),
  ...cases("successThreshold", badCounts),
  ...cases("maxRetries", [
    ["-1", -1],
    ["1.5", 1.5],
    ["NaN", Number.NaN],
    ["Infinity", Number.POSITIVE_INFINITY]
  ]),
  ...cases("failureHistorySize", [["-1", -1]]),
  ...cases("resetTimeout", [
    ["0", 0],
    ["-5", -5],
    ["NaN", Number.NaN],
    ["Infinity", Number.POSITIVE_INFINITY],
    ['"soon"', "soon"],
    ["{}", {}],
    ["Duration.infinity", Duration.infinity]
  ]),
  ...cases("timeout", [
    ["0", 0],
    ["-1", -1],
    ["NaN", Number.NaN],
    ['"abc"', "abc"],
    ["true", true]
  ]),
  ...cases("trialPermitTtl", [
    ["0", 0],
    ["-1", -1],
    ["NaN", Number.NaN],
    ["Infinity", Number.POSITIVE_INFINITY],
    ['"abc"', "abc"],
    ['"-5 seconds"', "-5 seconds"],
    ["true", true],
    ["null", null]
  ]),
  ...cases("retryDelay", [
    ["-1", -1],
    ["NaN", Number.NaN],
    ['"-5 seconds"', "-5 seconds"]
  ]),
  ...cases("maxRetryDelay", [["-1", -1]]),
  ...cases("retryBackoff", [
    ['"quadratic"', "quadratic"],
    ["1", 1]
  ]),
  ...cases("jitter", badFlags),
  ...cases("metricsTracking", badFlags),
  ...cases("distributedTracking", badFlags),
  ...cases("name", [
    ['""', ""],
    ['"   "', "   "],
    ["5", 5],
    ["a 300-character string", "n".repeat(300)]
  ]),
  ...cases("serviceId", [
    ['""', ""],
    ["5", 5]
  ]),
  ...cases("isFailure", [
    ["true", true],
    ['"not a function"', "not a function"],
    ["{}", {}]
  ]),
  ...cases("retrySchedule", [
    ["{}", {}],
    ['"1 second"', "1 second"],
    ["a function", () => 1]
  ])
]

describe("CircuitBreaker.make option validation", () => {
  describe("invalid values fail with a CircuitBreakerConfigError naming the option and holding the value", () => {
    for (const { label, option, value } of invalid) {
      it.effect(`${option} = ${label}`, () =>
        Effect.gen(function* () {
          const error = yield* configError({ [option]: value })
          expect(error).toBeInstanceOf(CircuitBreakerConfigError)
          expect(error._tag).toBe("CircuitBreakerConfigError")
          expect(error.option).toBe(option)
          expect(Object.is(error.value, value)).toBe(true)
          expect(error.message).toContain(`"${option}"`)
          expect(error.message).toContain(describeValue(value))
          expect(error.reason.length).toBeGreaterThan(0)
        })
      )
    }
  })

  it.effect("the message describes the value readably", () =>
    Effect.gen(function* () {
      expect((yield* configError({ failureThreshold: Number.NaN })).message).toContain("NaN")
      expect((yield* configError({ failureThreshold: "5" })).message).toContain('"5"')
      expect((yield* configError({ successThreshold: null })).message).toContain("null")
      expect((yield* configError({ resetTimeout: Duration.infinity })).message).toContain("Infinity")
      expect((yield* configError({ resetTimeout: "soon" })).message).toContain('"soon"')
    })
  )

  it.effect("the first invalid option is reported when a valid one precedes it", () =>
    Effect.gen(function* () {
      const error = yield* configError({ name: "ok", failureThreshold: 3, resetTimeout: -1 })
      expect(error.option).toBe("resetTimeout")
      expect(error.value).toBe(-1)
    })
  )

  describe("maxRetryDelay must not be shorter than retryDelay", () => {
    it.effect("both given in milliseconds", () =>
      Effect.gen(function* () {
        const error = yield* configError({ retryDelay: 500, maxRetryDelay: 100 })
        expect(error.option).toBe("maxRetryDelay")
        expect(error.value).toBe(100)
        expect(error.message).toContain('"maxRetryDelay"')
        expect(error.message).toContain("100")
        expect(error.reason).toContain("retryDelay")
      })
    )

    it.effect("given as strings", () =>
      Effect.gen(function* () {
        const error = yield* configError({ retryDelay: "2 seconds", maxRetryDelay: "1 second" })
        expect(error.option).toBe("maxRetryDelay")
        expect(error.value).toBe("1 second")
      })
    )

    it.effect("maxRetryDelay alone, below the default retryDelay (100 ms)", () =>
      Effect.gen(function* () {
        const error = yield* configError({ maxRetryDelay: 50 })
        expect(error.option).toBe("maxRetryDelay")
        expect(error.value).toBe(50)
      })
    )

    it.effect("equal delays are accepted", () =>
      Effect.gen(function* () {
        const options = yield* resolved({ retryDelay: 300, maxRetryDelay: "300 millis" })
        expect(millis(options.retryDelay)).toBe(300)
        expect(millis(options.maxRetryDelay)).toBe(300)
      })
    )
  })

  describe("unknown option names", () => {
    for (const typo of ["failureThreshhold", "resetTimout", "maxretries", "timeOut", "foo"]) {
      it.effect(`${typo} is rejected as an unknown option`, () =>
        Effect.gen(function* () {
          const error = yield* configError({ [typo]: 3 })
          expect(error.option).toBe(typo)
          expect(error.value).toBe(3)
          expect(error.reason).toContain("unknown option")
          expect(error.message).toContain(`"${typo}"`)
        })
      )
    }

    it.effect("the reason lists the known options", () =>
      Effect.gen(function* () {
        const error = yield* configError({ failureThreshhold: 3 })
        expect(error.reason).toContain("failureThreshold")
      })
    )

    it.effect("an unknown option is rejected even next to valid ones", () =>
      Effect.gen(function* () {
        const error = yield* configError({ name: "x", failureThreshold: 2, failureThreshhold: 3 })
        expect(error.option).toBe("failureThreshhold")
      })
    )

    it.effect("a symbol-keyed option is rejected as unknown, and the error holds its value", () =>
      Effect.gen(function* () {
        const key = Symbol("typo")
        const error = yield* configError({ [key]: 7 })
        expect(error.option).toBe("Symbol(typo)")
        expect(error.reason).toContain("unknown option")
        expect(error.value).toBe(7)
      })
    )
  })

  describe("non-object options", () => {
    const values: ReadonlyArray<readonly [string, unknown]> = [
      ["null", null],
      ['"x"', "x"],
      ["5", 5],
      ["[]", []],
      ["true", true],
      ["a function", () => ({})]
    ]
    for (const [label, value] of values) {
      it.effect(`${label} fails with option "options"`, () =>
        Effect.gen(function* () {
          const error = yield* configError(value)
          expect(error).toBeInstanceOf(CircuitBreakerConfigError)
          expect(error.option).toBe("options")
          expect(error.value).toBe(value)
          expect(error.message).toContain('"options"')
          expect(error.message).toContain(describeValue(value))
        })
      )
    }
  })
})

describe("CircuitBreaker.make resolved options", () => {
  const expectDefaults = (options: CircuitBreaker.CircuitBreaker.Resolved) => {
    expect(options.name).toMatch(/^circuit-\d+$/)
    expect(options.serviceId).toBe(options.name)
    expect(options.failureThreshold).toBe(5)
    expect(options.maxConcurrentTrials).toBe(1)
    expect(millis(options.resetTimeout)).toBe(30_000)
    expect(millis(options.timeout)).toBe(10_000)
    expect(options.successThreshold).toBe(3)
    expect(millis(options.trialPermitTtl)).toBe(11_000)
    expect(options.retryBackoff).toBe("exponential")
    expect(options.maxRetries).toBe(3)
    expect(options.metricsTracking).toBe(true)
    expect(options.distributedTracking).toBe(false)
    expect(options.failureHistorySize).toBe(10)
    expect(millis(options.retryDelay)).toBe(100)
    expect(millis(options.maxRetryDelay)).toBe(10_000)
    expect(options.jitter).toBe(true)
    expect(options.retrySchedule).toBeUndefined()
    expect(options.isFailure).toBeUndefined()
  }

  it.effect("no options: the documented defaults", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make()
      expect(breaker.name).toMatch(/^circuit-\d+$/)
      expectDefaults(breaker.options)
      // Unnamed breakers never share a circuit, nor metric tags.
      const other = yield* CircuitBreaker.make()
      expect(other.name).not.toBe(breaker.name)
    })
  )

  it.effect("{} and explicit undefined values: the documented defaults", () =>
    Effect.gen(function* () {
      expectDefaults(yield* resolved({}))
      expectDefaults(yield* resolved(undefined))
      expectDefaults(
        yield* resolved({ failureThreshold: undefined, resetTimeout: undefined, timeout: undefined, name: undefined })
      )
    })
  )

  it.effect("valid values are kept", () =>
    Effect.gen(function* () {
      const isFailure = (e: unknown) => e !== "ignored"
      const retrySchedule = Schedule.recurs(2)
      const breaker = yield* CircuitBreaker.make({
        name: "payments",
        serviceId: "payments-api",
        failureThreshold: 1,
        successThreshold: 7,
        retryBackoff: "linear",
        maxRetries: 0,
        failureHistorySize: 0,
        jitter: false,
        metricsTracking: false,
        distributedTracking: false,
        isFailure,
        retrySchedule
      })
      const o = breaker.options
      expect(breaker.name).toBe("payments")
      expect(o.name).toBe("payments")
      expect(o.serviceId).toBe("payments-api")
      expect(o.failureThreshold).toBe(1)
      expect(o.successThreshold).toBe(7)
      expect(o.retryBackoff).toBe("linear")
      expect(o.maxRetries).toBe(0)
      expect(o.failureHistorySize).toBe(0)
      expect(o.jitter).toBe(false)
      expect(o.metricsTracking).toBe(false)
      expect(o.distributedTracking).toBe(false)
      expect(o.isFailure).toBe(isFailure)
      expect(o.retrySchedule).toBe(retrySchedule)
    })
  )

  it.effect("serviceId defaults to the name", () =>
    Effect.gen(function* () {
      expect((yield* resolved({ name: "orders" })).serviceId).toBe("orders")
    })
  )

  it.effect("names: inner spaces and exactly 256 characters are accepted", () =>
    Effect.gen(function* () {
      expect((yield* resolved({ name: "my breaker" })).name).toBe("my breaker")
      const long = "n".repeat(256)
      expect((yield* resolved({ name: long })).name).toBe(long)
    })
  )

  it.effect("large whole numbers are accepted", () =>
    Effect.gen(function* () {
      const o = yield* resolved({
        failureThreshold: 1000,
        successThreshold: 50,
        maxRetries: 20,
        failureHistorySize: 500
      })
      expect(o.failureThreshold).toBe(1000)
      expect(o.successThreshold).toBe(50)
      expect(o.maxRetries).toBe(20)
      expect(o.failureHistorySize).toBe(500)
    })
  )

  describe("durations", () => {
    const inputs: ReadonlyArray<readonly [string, unknown, number]> = [
      ["milliseconds", 1500, 1500],
      ["a Duration", Duration.seconds(2), 2000],
      ['"2 seconds"', "2 seconds", 2000],
      ['"1 minute"', "1 minute", 60_000],
      ['"250 millis"', "250 millis", 250]
    ]
    for (const option of ["resetTimeout", "timeout", "trialPermitTtl", "retryDelay", "maxRetryDelay"] as const) {
      for (const [label, input, expected] of inputs) {
        it.effect(`${option} accepts ${label}`, () =>
          Effect.gen(function* () {
            // retryDelay may not exceed maxRetryDelay: keep the other one out of the way.
            const extra =
              option === "retryDelay"
                ? { maxRetryDelay: "1 hour" }
                : option === "maxRetryDelay"
                  ? { retryDelay: 0 }
                  : {}
            const o = yield* resolved({ ...extra, [option]: input })
            expect(millis(o[option])).toBe(expected)
          })
        )
      }
    }

    it.effect("retryDelay and maxRetryDelay accept zero", () =>
      Effect.gen(function* () {
        const o = yield* resolved({ retryDelay: 0, maxRetryDelay: 0 })
        expect(millis(o.retryDelay)).toBe(0)
        expect(millis(o.maxRetryDelay)).toBe(0)
      })
    )

    it.effect("timeout: false and Duration.infinity disable it", () =>
      Effect.gen(function* () {
        expect(Duration.isFinite((yield* resolved({ timeout: false })).timeout)).toBe(false)
        expect(Duration.isFinite((yield* resolved({ timeout: Duration.infinity })).timeout)).toBe(false)
      })
    )

    it.effect("a disabled timeout never interrupts a slow call", () =>
      Effect.gen(function* () {
        const breaker = yield* CircuitBreaker.make({ name: "slow", timeout: false, maxRetries: 0 })
        const fiber = yield* Effect.fork(breaker.execute(Effect.as(Effect.sleep("1 minute"), "done")))
        yield* TestClock.adjust("1 minute")
        expect(yield* Fiber.join(fiber)).toBe("done")
      })
    )

    it.effect("the default 10 s timeout interrupts a slow call", () =>
      Effect.gen(function* () {
        const breaker = yield* CircuitBreaker.make({ name: "slow-default", maxRetries: 0 })
        const fiber = yield* Effect.fork(Effect.flip(breaker.execute(Effect.sleep("1 minute"))))
        yield* TestClock.adjust("10 seconds")
        const error = yield* Fiber.join(fiber)
        expect(error._tag).toBe("CircuitTimeoutError")
      })
    )
  })
})

describe("odd values never make make throw or die", () => {
  const circular: Record<string, unknown> = { a: 1 }
  circular.self = circular
  const throwingGetter = {
    get value(): never {
      throw new Error("getter")
    }
  }
  const throwingToString = {
    toString(): never {
      throw new Error("toString")
    },
    [Symbol.toPrimitive](): never {
      throw new Error("toPrimitive")
    }
  }
  const hostileProxy = new Proxy(
    {},
    {
      get: () => {
        throw new Error("get")
      },
      has: () => {
        throw new Error("has")
      },
      ownKeys: () => {
        throw new Error("ownKeys")
      },
      getOwnPropertyDescriptor: () => {
        throw new Error("getOwnPropertyDescriptor")
      },
      getPrototypeOf: () => {
        throw new Error("getPrototypeOf")
      }
    }
  )
  const oddValues: ReadonlyArray<readonly [string, unknown]> = [
    ["a circular object", circular],
    ["an object with a throwing getter", throwingGetter],
    ["an object with a throwing toString", throwingToString],
    ["a Proxy that throws on every trap", hostileProxy],
    ["a symbol", Symbol("odd")],
    ["a bigint", 5n],
    ["a null-prototype object", Object.create(null)]
  ]
  const options = [
    "name",
    "failureThreshold",
    "maxRetries",
    "resetTimeout",
    "timeout",
    "trialPermitTtl",
    "retryDelay",
    "retryBackoff",
    "jitter",
    "isFailure",
    "retrySchedule"
  ]

  for (const [label, value] of oddValues) {
    it.effect(`${label} as an option value fails with a typed error for every option`, () =>
      Effect.gen(function* () {
        const problems: Array<string> = []
        for (const option of options) {
          const exit = yield* Effect.exit(makeUnchecked({ [option]: value }))
          if (Exit.isSuccess(exit)) problems.push(`${option}: accepted`)
          else if (!Cause.isFailType(exit.cause)) {
            problems.push(`${option}: ${exit.cause._tag} (not a Fail): ${squashed(exit.cause)}`)
          } else {
            const error = exit.cause.error
            if (!(error instanceof CircuitBreakerConfigError)) problems.push(`${option}: not a config error`)
            else if (error.option !== option) problems.push(`${option}: names "${error.option}"`)
            else if (error.value !== value) problems.push(`${option}: value not kept`)
            else if (typeof error.message !== "string") problems.push(`${option}: no message`)
          }
        }
        expect(problems).toEqual([])
      })
    )
  }

  it.effect("an options object whose getter throws fails with a typed error", () =>
    Effect.gen(function* () {
      const options = {
        get failureThreshold(): number {
          throw new Error("unreadable")
        }
      }
      expect(() => makeUnchecked(options)).not.toThrow()
      const exit = yield* Effect.exit(makeUnchecked(options))
      expect(outcome(exit)).toBe("Fail")
      if (Exit.isFailure(exit) && Cause.isFailType(exit.cause)) {
        expect(exit.cause.error.option).toBe("failureThreshold")
      }
    })
  )

  it.effect("a Proxy as the options object fails with a typed error", () =>
    Effect.gen(function* () {
      expect(() => makeUnchecked(hostileProxy)).not.toThrow()
      const exit = yield* Effect.exit(makeUnchecked(hostileProxy))
      expect(outcome(exit)).toBe("Fail")
    })
  )

  it.effect("a circular options object with an unknown key fails with a typed error", () =>
    Effect.gen(function* () {
      const options: Record<string, unknown> = { name: "x" }
      options.self = options
      expect(outcome(yield* Effect.exit(makeUnchecked(options)))).toBe("Fail")
      const error = yield* configError(options)
      expect(error.option).toBe("self")
      expect(error.value).toBe(options)
    })
  )
})

describe("describeValue", () => {
  it("circular objects", () => {
    const circular: Record<string, unknown> = {}
    circular.self = circular
    expect(describeValue(circular)).toBe("object")
    const list: Array<unknown> = []
    list.push(list)
    expect(describeValue(list)).toBe("array of 1")
  })

  it("symbols", () => {
    expect(describeValue(Symbol("s"))).toBe("Symbol(s)")
    expect(describeValue(Symbol())).toBe("Symbol()")
  })

  it("bigints", () => {
    expect(describeValue(10n)).toBe("10n")
    expect(describeValue(-3n)).toBe("-3n")
  })

  it("objects with a throwing toString or toPrimitive", () => {
    const value = {
      toString(): never {
        throw new Error("toString")
      },
      [Symbol.toPrimitive](): never {
        throw new Error("toPrimitive")
      }
    }
    expect(() => describeValue(value)).not.toThrow()
    expect(describeValue(value)).toBe("object")
  })

  it("objects whose constructor getter throws, and hostile proxies", () => {
    const value = Object.defineProperty({}, "constructor", {
      get(): never {
        throw new Error("constructor")
      }
    })
    expect(typeof describeValue(value)).toBe("string")
    const proxy = new Proxy(
      {},
      {
        get: () => {
          throw new Error("get")
        },
        has: () => {
          throw new Error("has")
        }
      }
    )
    expect(() => describeValue(proxy)).not.toThrow()
    expect(typeof describeValue(proxy)).toBe("string")
  })

  it("long strings are truncated, short ones quoted whole", () => {
    const long = "x".repeat(1000)
    const described = describeValue(long)
    expect(described.length).toBeLessThanOrEqual(82)
    expect(described.startsWith('"xxx')).toBe(true)
    expect(described.endsWith('..."')).toBe(true)
    expect(describeValue("x".repeat(80))).toBe(JSON.stringify("x".repeat(80)))
    expect(describeValue("soon")).toBe('"soon"')
  })

  it("other values", () => {
    expect(describeValue(Number.NaN)).toBe("NaN")
    expect(describeValue(Number.POSITIVE_INFINITY)).toBe("Infinity")
    expect(describeValue(undefined)).toBe("undefined")
    expect(describeValue(null)).toBe("null")
    expect(describeValue(false)).toBe("false")
    expect(describeValue([1, 2, 3])).toBe("array of 3")
    expect(describeValue(Duration.seconds(2))).toBe("Duration(2s)")
    expect(describeValue(Duration.infinity)).toContain("Infinity")
    expect(describeValue(function named() {})).toBe("function named")
    expect(describeValue(Object.create(null))).toBe("object")
    expect(describeValue(new (class Widget {})())).toBe("Widget object")
  })

  it("the message of a config error never throws, whatever the value", () => {
    const circular: Record<string, unknown> = {}
    circular.self = circular
    for (const value of [circular, Symbol("s"), 1n, Object.create(null)]) {
      const error = new CircuitBreakerConfigError({ option: "x", value, reason: "bad" })
      expect(() => error.message).not.toThrow()
      expect(error.message).toContain('"x"')
    }
  })
})

describe("durations that become timers", () => {
  it.effect("a timeout or retry delay longer than a Node timer can wait is rejected, naming the option", () =>
    Effect.gen(function* () {
      for (const option of ["timeout", "retryDelay", "maxRetryDelay"]) {
        const error = yield* configError({ [option]: "30 days" })
        expect(error.option).toBe(option)
        expect(error.reason).toContain("2147483647")
      }
      // resetTimeout is not a timer (Open ends when the next call comes), so it may be long.
      expect(millis((yield* resolved({ resetTimeout: "30 days" })).resetTimeout)).toBe(30 * 24 * 3600 * 1000)
      expect(millis((yield* resolved({ timeout: 2 ** 31 - 1 })).timeout)).toBe(2 ** 31 - 1)
    })
  )
})

describe("trialPermitTtl", () => {
  it("is a known option, and its default is the one for the default timeout (10 s + 1 s)", () => {
    expect(CircuitBreakerOptions.knownOptions).toContain("trialPermitTtl")
    expect(millis(CircuitBreakerOptions.defaults.trialPermitTtl)).toBe(
      millis(CircuitBreakerOptions.defaults.timeout) + 1000
    )
  })

  it.effect("the default follows the timeout: the longest a trial attempt can take, plus 1 s", () =>
    Effect.gen(function* () {
      expect(millis((yield* resolved({ timeout: 2000 })).trialPermitTtl)).toBe(3000)
      expect(millis((yield* resolved({ timeout: "1 minute" })).trialPermitTtl)).toBe(61_000)
      // Retries do not lengthen it: each retry takes a permit of its own.
      expect(millis((yield* resolved({ timeout: 2000, maxRetries: 10, retryDelay: 5000 })).trialPermitTtl)).toBe(3000)
    })
  )

  it.effect("the default is 60 s when the timeout is disabled", () =>
    Effect.gen(function* () {
      expect(millis((yield* resolved({ timeout: false })).trialPermitTtl)).toBe(60_000)
      expect(millis((yield* resolved({ timeout: Duration.infinity })).trialPermitTtl)).toBe(60_000)
    })
  )

  it.effect("a value given is kept, whatever the timeout", () =>
    Effect.gen(function* () {
      expect(millis((yield* resolved({ trialPermitTtl: 300 })).trialPermitTtl)).toBe(300)
      expect(millis((yield* resolved({ trialPermitTtl: "2 minutes", timeout: false })).trialPermitTtl)).toBe(120_000)
    })
  )

  it.effect("false and Duration.infinity disable expiry", () =>
    Effect.gen(function* () {
      expect(Duration.isFinite((yield* resolved({ trialPermitTtl: false })).trialPermitTtl)).toBe(false)
      expect(Duration.isFinite((yield* resolved({ trialPermitTtl: Duration.infinity })).trialPermitTtl)).toBe(false)
    })
  )

  it.effect("policyOf puts it into the Policy in milliseconds, or leaves it out when disabled", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ name: "ttl-policy", trialPermitTtl: "1500 millis" })
      expect(breaker.policy.trialPermitTtl).toBe(1500)
      expect(CircuitBreakerOptions.policyOf(yield* resolved({})).trialPermitTtl).toBe(11_000)
      expect(CircuitBreakerOptions.policyOf(yield* resolved({ timeout: false })).trialPermitTtl).toBe(60_000)
      expect(CircuitBreakerOptions.policyOf(yield* resolved({ trialPermitTtl: false })).trialPermitTtl).toBeUndefined()
    })
  )

  it("resolve names the option of an invalid value", () => {
    const result = CircuitBreakerOptions.resolve({ trialPermitTtl: -5 })
    expect(result._tag).toBe("Left")
    if (result._tag === "Left") {
      expect(result.left.option).toBe("trialPermitTtl")
      expect(result.left.value).toBe(-5)
      expect(result.left.reason).toContain("positive duration")
    }
  })
})
