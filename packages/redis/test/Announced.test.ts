/**
 * Changes announced by another process, with no server: announcements are driven into the store's synchronisation
 * directly, each process's estimate of Redis's clock is set by hand, and a fake connection answers when told.
 */
import type { CircuitBreakerState } from "@circuit-breaker/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { CircuitSync } from "../src/internal/circuitSync.js"
import type { Connection } from "../src/internal/connection.js"
import { ServerClock } from "../src/internal/serverClock.js"

type State = CircuitBreakerState.CircuitState<unknown>

const DAY = 24 * 60 * 60 * 1000
const REDIS_NOW = 1_800_000_000_000
const initial: State = { _tag: "Closed", generation: 0, since: 0, tally: 0 }

/** A process's synchronisation whose estimate of Redis's clock reads `REDIS_NOW` now. No command is ever sent. */
const makeSync = () => {
  const clock = new ServerClock(
    () => 5_000,
    () => 5_000
  )
  clock.observe(REDIS_NOW, clock.sent())
  const config = { prefix: "t:", channel: "t:events", idleTtl: DAY, maxOpenPeriod: DAY, instanceId: "reader" }
  const sync = new CircuitSync(undefined as unknown as Connection, clock, config, () => {})
  return sync
}

/** What the compare-and-set script publishes: `version \n incarnation \n state \n name`. */
const announcement = (version: number, state: State) => `${version}\n1.1\n${JSON.stringify(state)}\nshared`

describe("a trip announced by another process", () => {
  it("is adopted when it is Open for the longest open period, by a writer whose clock estimate is a little ahead", () => {
    const sync = makeSync()
    const cell = sync.cellOf("shared", initial)
    // The writer's estimate of Redis's clock is 3 ms ahead of this process's: its trip, made for the longest open
    // period, ends 3 ms further than this process's now plus that period.
    const openedAt = REDIS_NOW + 3
    sync.announced(announcement(2, { _tag: "Open", generation: 1, since: openedAt, openedAt, retryAt: openedAt + DAY }))
    expect(cell.view._tag).toBe("Open")
    expect(cell.version).toBe(2)
    // And the reset that follows is adopted too.
    sync.announced(announcement(3, { _tag: "Closed", generation: 2, since: openedAt + 30, tally: 0 }))
    expect(cell.view._tag).toBe("Closed")
  })

  it("is still refused as corrupt when it would stay Open far beyond the longest open period", () => {
    const sync = makeSync()
    const cell = sync.cellOf("shared", initial)
    sync.announced(
      announcement(2, {
        _tag: "Open",
        generation: 1,
        since: REDIS_NOW,
        openedAt: REDIS_NOW,
        retryAt: REDIS_NOW + 2 * DAY
      })
    )
    expect(cell.view._tag).toBe("Closed")
  })
})

/** A connection whose compare-and-sets answer when the test says, and whose reads return `stored`. */
const fakeConnection = (stored: () => readonly [number, string, string]) => {
  const answers: Array<(reply: ReadonlyArray<unknown>) => void> = []
  let reads = 0
  const client = {
    circuitBreakerCompareAndSet: () => new Promise<ReadonlyArray<unknown>>((resolve) => answers.push(resolve)),
    circuitBreakerRead: () => {
      reads++
      const [version, incarnation, json] = stored()
      return Promise.resolve([version, incarnation, json, REDIS_NOW, "other", REDIS_NOW])
    }
  }
  const connection = {
    client,
    run: (_what: string, f: () => Promise<unknown>) => Effect.promise(f),
    withinBudget: <A, E, R>(effect: Effect.Effect<A, E, R>) => effect
  }
  return { connection: connection as unknown as Connection, answers, reads: () => reads }
}

const waitFor = async (done: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 1))
  expect(done()).toBe(true)
}

describe("a change announced while this process writes", () => {
  const closed = (generation: number, tally = 0): State => ({ _tag: "Closed", generation, since: REDIS_NOW, tally })
  const open: State = { _tag: "Open", generation: 1, since: REDIS_NOW, openedAt: REDIS_NOW, retryAt: REDIS_NOW + 1 }

  /** A process whose circuit is stored at version 1, and whose connection answers its reads with `readReply`. */
  const setUp = async (readReply: readonly [number, string, string]) => {
    const fake = fakeConnection(() => readReply)
    const clock = new ServerClock(
      () => REDIS_NOW,
      () => REDIS_NOW
    )
    clock.observe(REDIS_NOW, clock.sent())
    const config = { prefix: "t:", channel: "t:events", idleTtl: DAY, maxOpenPeriod: DAY, instanceId: "writer" }
    const sync = new CircuitSync(fake.connection, clock, config, (effect) => void Effect.runFork(effect))
    const cell = sync.cellOf("shared", initial)
    await Effect.runPromise(Effect.yieldNow())
    cell.adopt(1, "1.1", closed(0))
    return { fake, sync, cell }
  }

  it("is adopted at once when it changes the state, and the write's older reply does not undo it", async () => {
    const { fake, sync, cell } = await setUp([3, "1.1", JSON.stringify(closed(2))])
    // A trip, written at once.
    cell.push(() => [undefined, open])
    cell.view = open
    sync.writeSoon(cell)
    await waitFor(() => fake.answers.length === 1)
    // Another process resets the circuit after this trip (version 3) while its compare-and-set is in flight.
    sync.announced(announcement(3, closed(2)))
    expect(cell.version).toBe(3)
    expect(cell.view._tag).toBe("Closed")
    // A change queued behind the write changes nothing; then the trip's reply (version 2) arrives.
    cell.push((s) => [undefined, s])
    sync.writeSoon(cell)
    fake.answers[0]!([1, 2, "1.1", JSON.stringify(open), REDIS_NOW])
    await waitFor(() => !cell.writing && !cell.queued)
    expect(cell.version).toBe(3)
    expect(cell.view).toMatchObject({ _tag: "Closed", generation: 2 })
  })

  it("is read once the writes end when it only counts, even when the write queued behind changes nothing", async () => {
    const { fake, sync, cell } = await setUp([3, "1.1", JSON.stringify(closed(0, 3))])
    // A failure counted here, written at the tick.
    cell.push((s) => [undefined, { ...(s as Extract<State, { _tag: "Closed" }>), tally: 1 }])
    cell.view = closed(0, 1)
    sync.writeSoon(cell)
    await waitFor(() => fake.answers.length === 1)
    // Two more counted by others (version 3) while this compare-and-set is in flight: not a change of state.
    sync.announced(announcement(3, closed(0, 3)))
    expect(cell.version).toBe(1)
    cell.push((s) => [undefined, s])
    sync.writeSoon(cell)
    const readsBefore = fake.reads()
    fake.answers[0]!([1, 2, "1.1", JSON.stringify(closed(0, 1)), REDIS_NOW])
    await waitFor(() => !cell.writing && !cell.queued && fake.reads() > readsBefore)
    await waitFor(() => cell.version === 3)
    expect(cell.view).toMatchObject({ _tag: "Closed", tally: 3 })
  })
})

describe("a read that was overtaken by announcements", () => {
  /** A connection whose reads answer when the test says. */
  const heldReads = () => {
    const answers: Array<(reply: ReadonlyArray<unknown>) => void> = []
    const client = {
      circuitBreakerRead: () => new Promise<ReadonlyArray<unknown>>((resolve) => answers.push(resolve))
    }
    const connection = { client, run: (_what: string, f: () => Promise<unknown>) => Effect.promise(f) }
    return { connection: connection as unknown as Connection, answers }
  }
  const closed = (tally: number): State => ({ _tag: "Closed", generation: 0, since: REDIS_NOW, tally })
  // Incarnations and read times are Redis's TIME as `seconds.microseconds`.
  const made = "1800000000.000500"
  const counted = (version: number, tally: number) => `${version}\n${made}\n${JSON.stringify(closed(tally))}\nshared`
  const noKeyReadAt = (time: string) => [0, null, null, null, null, REDIS_NOW, time]

  const setUp = async () => {
    const fake = heldReads()
    const clock = new ServerClock(
      () => REDIS_NOW,
      () => REDIS_NOW
    )
    clock.observe(REDIS_NOW, clock.sent())
    const config = { prefix: "t:", channel: "t:events", idleTtl: DAY, maxOpenPeriod: DAY, instanceId: "reader" }
    const sync = new CircuitSync(fake.connection, clock, config, (effect) => void Effect.runFork(effect))
    const cell = sync.cellOf("shared", closed(0))
    await waitFor(() => fake.answers.length === 1)
    // Two other processes count a failure each: the first write makes the key.
    sync.announced(counted(1, 1))
    sync.announced(counted(2, 2))
    expect(cell.version).toBe(2)
    return { fake, cell }
  }

  it("keeps the announced state when the read found no key because it ran before the key was made", async () => {
    const { fake, cell } = await setUp()
    // The first read, sent before those writes, answers last: Redis had no key yet when it ran.
    fake.answers[0]!(noKeyReadAt("1800000000.000400"))
    await Effect.runPromise(Effect.sleep(5))
    expect(cell.version).toBe(2)
    expect(cell.view).toMatchObject({ _tag: "Closed", tally: 2 })
  })

  it("still takes a key that went missing after it was made for lost (its data was flushed)", async () => {
    const { fake, cell } = await setUp()
    fake.answers[0]!(noKeyReadAt("1800000001.000000"))
    await waitFor(() => cell.version === 0)
    expect(cell.view).toMatchObject({ _tag: "Closed", tally: 0 })
  })
})
