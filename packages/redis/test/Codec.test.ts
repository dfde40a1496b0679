/**
 * The boundary with Redis, without a server: stored states decoded with bounds, announcements, which errors make
 * Redis unreachable, and the clock offset that only takes finite values.
 */
import { type CircuitBreakerState, TripRule } from "@circuit-breaker/core"
import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck } from "effect"
import { Cell } from "../src/internal/cell.js"
import * as codec from "../src/internal/codec.js"
import { isConnectionFailure } from "../src/internal/connection.js"
import { ServerClock } from "../src/internal/serverClock.js"

type State = CircuitBreakerState.CircuitState<unknown>

const NOW = 1_800_000_000_000
const bounds = {
  now: NOW,
  maxOpenPeriod: 3_600_000,
  initial: { _tag: "Closed", generation: 0, since: 0, tally: 0 } as State
}

const time = FastCheck.integer({ min: 0, max: NOW })
const count = FastCheck.integer({ min: 0, max: 1000 })
const state: FastCheck.Arbitrary<State> = FastCheck.oneof(
  FastCheck.record({ _tag: FastCheck.constant("Closed" as const), generation: count, since: time, tally: count }),
  FastCheck.tuple(count, time, FastCheck.integer({ min: 0, max: 3_600_000 }), FastCheck.option(count)).map(
    ([generation, since, period, isolated]) => ({
      _tag: "Open" as const,
      generation,
      since,
      openedAt: since,
      retryAt: Math.min(since + period, NOW + 3_600_000),
      ...(isolated === null ? {} : { isolated })
    })
  ),
  FastCheck.record({
    _tag: FastCheck.constant("HalfOpen" as const),
    generation: count,
    since: time,
    trialsInFlight: count,
    successes: count,
    permitsExpireAt: time
  })
)

const withState = (fields: Record<string, unknown>) => JSON.stringify(fields)

describe("decode with bounds", () => {
  it.prop("every state the breakers make decodes to itself", [state], ([s]) => {
    expect(codec.decode(codec.encode(s), bounds)).toStrictEqual(Either.right(s))
  })

  it.prop(
    "a count that is not a non-negative integer is refused, naming the field",
    [FastCheck.oneof(FastCheck.constant(-1), FastCheck.constant(1.5), FastCheck.constant("3"))],
    ([bad]) => {
      const json = withState({ _tag: "HalfOpen", generation: 1, since: 1, trialsInFlight: bad, successes: 0 })
      const result = codec.decode(json, bounds)
      expect(Either.isLeft(result) && result.left.includes("trialsInFlight")).toBe(true)
    }
  )

  it("a retryAt further than the longest open period, or a time far ahead of Redis, is refused", () => {
    const open = { _tag: "Open", generation: 1, since: NOW, openedAt: NOW }
    expect(Either.isLeft(codec.decode(withState({ ...open, retryAt: Date.UTC(3000, 0, 1) }), bounds))).toBe(true)
    expect(Either.isRight(codec.decode(withState({ ...open, retryAt: NOW + 1000 }), bounds))).toBe(true)
    // Another writer's estimate of Redis's clock may be a little ahead: the longest period, from its now, is not corrupt.
    const longest = { ...open, openedAt: NOW + 5, retryAt: NOW + 5 + bounds.maxOpenPeriod }
    expect(Either.isRight(codec.decode(withState(longest), bounds))).toBe(true)
    const future = { _tag: "Closed", generation: 0, since: NOW + 3_600_000, tally: 0 }
    expect(Either.isLeft(codec.decode(withState(future), bounds))).toBe(true)
  })

  it("a tally must have the shape of the circuit's fresh tally", () => {
    const closed = (tally: unknown) => withState({ _tag: "Closed", generation: 0, since: 1, tally })
    expect(Either.isLeft(codec.decode(closed("abc"), bounds))).toBe(true)
    expect(Either.isLeft(codec.decode(closed(-2), bounds))).toBe(true)
    expect(Either.isRight(codec.decode(closed(7), bounds))).toBe(true)
    expect(codec.sameShape({ failures: [1, 2], total: 3 }, { failures: [0], total: 0 })).toBe(true)
    expect(codec.sameShape({ failures: ["x"], total: 3 }, { failures: [0], total: 0 })).toBe(false)
    expect(codec.sameShape({ total: 3 }, { failures: [], total: 0 })).toBe(false)
  })

  it("the tallies of every trip rule, fresh or not, have the shape of their fresh tally", () => {
    const thresholds = { failureRateThreshold: 50, minimumNumberOfCalls: 1 }
    const rules: ReadonlyArray<TripRule.TripRule<any>> = [
      TripRule.countWindow(64, thresholds),
      TripRule.timeWindow(10, thresholds),
      TripRule.anyOf([TripRule.consecutiveFailures(3), TripRule.countWindow(40, thresholds)]),
      TripRule.anyOf([TripRule.consecutiveFailures(3), TripRule.timeWindow(10, thresholds)])
    ]
    for (const rule of rules) {
      const fresh = { _tag: "Closed", generation: 0, since: 1, tally: rule.initial } as State
      // 40 failures: the bit of slot 31 makes a negative 32-bit word.
      let tally = rule.initial
      for (let i = 0; i < 40; i++) tally = rule.onFailure(tally, NOW - 1000 + i, 5)
      for (const t of [rule.initial, tally]) {
        const stored = withState({ ...fresh, tally: t })
        expect(Either.isRight(codec.decode(stored, { ...bounds, initial: fresh })), rule.name).toBe(true)
      }
    }
    // A tuple is compared item by item: the items of another rule's tally are not taken.
    expect(codec.sameShape([0, { calls: 1 }], [0, { calls: 0 }])).toBe(true)
    expect(codec.sameShape([{ calls: 1 }, 0], [0, { calls: 0 }])).toBe(false)
    expect(codec.sameShape(-1, 0)).toBe(false)
  })

  it("a version is a decimal count, or corrupt", () => {
    expect(codec.decodeVersion("12")).toBe(12)
    expect(codec.decodeVersion(0)).toBe(0)
    for (const bad of ["-4", "1e3", "abc", "", null, -1, 1.5]) expect(codec.decodeVersion(bad)).toBeUndefined()
  })
})

describe("the codec's warm-up", () => {
  it("the first store of a process encodes, announces and decodes a state of each kind; later ones skip it", () => {
    const decoded = codec.warmUp()
    expect(decoded).toEqual(codec.warmUpSamples.map((state) => Either.right(codec.shiftTimes(state, 1))))
    expect(new Set(decoded.map((d) => Either.getOrThrow(d)._tag))).toEqual(new Set(["Closed", "Open", "HalfOpen"]))
    expect(codec.warmUp()).toEqual([])
  })
})

describe("what is written at once", () => {
  const closed = (tally: number, generation = 0): State => ({ _tag: "Closed", generation, since: 5, tally })
  it("a tally alone waits for the next tick; a trip, a reset or any other field does not", () => {
    expect(codec.isUrgent(closed(0), closed(1))).toBe(false)
    expect(codec.isUrgent(closed(1), closed(0, 1))).toBe(true)
    expect(codec.isUrgent(closed(1), { _tag: "Open", generation: 1, since: 5, openedAt: 5, retryAt: 9 })).toBe(true)
    expect(codec.isUrgent(closed(1), { ...closed(1), extra: true } as unknown as State)).toBe(true)
  })
})

describe("announcements", () => {
  it.prop("a name with any character survives", [FastCheck.string(), count], ([name, version]) => {
    const json = codec.encode({ _tag: "Closed", generation: 0, since: 1, tally: 0 })
    expect(codec.parseAnnouncement(`${version}\n123.4\n${json}\n${name}`)).toStrictEqual({
      name,
      version,
      incarnation: "123.4",
      json
    })
  })

  it.prop(
    "with its node's change count, the name still survives",
    [FastCheck.string(), count, count],
    ([name, version, n]) => {
      const json = codec.encode({ _tag: "Closed", generation: 0, since: 1, tally: 0 })
      expect(codec.parseAnnouncement(`${version} ${n} cb:v1:changes{7}\n123.4\n${json}\n${name}`)).toStrictEqual({
        name,
        version,
        count: { value: n, key: "cb:v1:changes{7}" },
        incarnation: "123.4",
        json
      })
    }
  )

  it("anything else is not one", () => {
    for (const bad of ["", "1\n2", "x\n1\n{}\nname"]) expect(codec.parseAnnouncement(bad)).toBeUndefined()
  })
})

describe("which errors make Redis unreachable", () => {
  const reply = (message: string) => Object.assign(new Error(message), { name: "ReplyError" })
  it("an error about one key, or a budget cut short, does not; the connection's trouble does", () => {
    expect(isConnectionFailure(reply("WRONGTYPE Operation against a key holding the wrong kind of value"), true)).toBe(
      false
    )
    expect(isConnectionFailure(reply("MOVED 3999 127.0.0.1:6381"), true)).toBe(false)
    expect(isConnectionFailure(reply("ERR user_script:3: Script attempted to access nonexistent global"), true)).toBe(
      false
    )
    expect(isConnectionFailure(reply("LOADING Redis is loading the dataset in memory"), true)).toBe(true)
    expect(isConnectionFailure(new Error("Command timed out"), false)).toBe(false)
    expect(isConnectionFailure(new Error("Command timed out"), true)).toBe(true)
    expect(
      isConnectionFailure(new Error("Stream isn't writeable and enableOfflineQueue options is false"), false)
    ).toBe(true)
  })
})

describe("the clock offset", () => {
  it.prop(
    "only ever takes finite values",
    [FastCheck.array(FastCheck.oneof(FastCheck.double(), FastCheck.constant(null), FastCheck.string()))],
    ([replies]) => {
      let local = 1000
      const clock = new ServerClock(
        () => local++,
        () => local
      )
      for (const reply of replies) {
        clock.observe(reply, clock.sent())
        expect(Number.isFinite(clock.delta)).toBe(true)
        expect(Number.isFinite(clock.serverNow())).toBe(true)
      }
    }
  )
})

describe("what a cell adopts", () => {
  const initial: State = { _tag: "Closed", generation: 0, since: 0, tally: 0 }
  it("a read or message older than the cell's version of the same incarnation is overtaken; any other is not", () => {
    const cell = new Cell("k", "n", initial)
    cell.adopt(3, "inc-1", initial)
    expect(cell.isOlder(2, "inc-1")).toBe(true)
    expect(cell.isOlder(3, "inc-1")).toBe(false)
    expect(cell.isOlder(1, "inc-2")).toBe(false)
    expect(cell.isOlder(0, "")).toBe(false)
    cell.missed = { version: 4, incarnation: "inc-1" }
    expect(cell.takeMissed()).toBe(true)
    cell.missed = { version: 3, incarnation: "inc-1" }
    expect(cell.takeMissed()).toBe(false)
    expect(cell.missed).toBeUndefined()
  })
})
