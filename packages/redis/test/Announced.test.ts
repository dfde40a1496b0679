/**
 * A trip announced by another process, adopted with no server: the announcement is driven into the store's
 * synchronisation directly, with each process's estimate of Redis's clock set by hand.
 */
import type { CircuitBreakerState } from "@circuit-breaker/core"
import { describe, expect, it } from "@effect/vitest"
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
