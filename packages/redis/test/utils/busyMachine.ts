/**
 * Real-time tests on a busy machine (other processes competing for the CPU):
 *
 * - `eventLoopLag`: when this process could not run (stalls of its event loop: other processes had the CPU, or a
 *   long task ran), measured while a test runs. A timeout of 100 ms ends after 100 ms plus the stalls in between:
 *   tests that bound a wait in real time bound the time the process was running, not a fixed allowance that holds
 *   only on an idle machine.
 * - `PATIENCE`: how long a test waits for a condition it needs before what it asserts (a state reached through
 *   Redis), unless it says otherwise.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/** How long a test waits for a condition unless it says otherwise: a loaded machine can be slow to get there. */
export const PATIENCE = 10_000

/** How often the sampling timer is due, in ms. */
const STEP_MS = 2
/** How long stalls are remembered, in ms. */
const MEMORY_MS = 120_000

export interface EventLoopLag {
  /**
   * The time between `from` and `to` (both `Date.now()`) during which this process could not run: the stalls the
   * sampling timer saw, clipped to that stretch. A stall is seen when it ends: read this a few ms after `to`.
   */
  readonly stalledBetween: (from: number, to: number) => number
  /** Waits until the sampler has seen the stalls that ended by now. */
  readonly settle: Effect.Effect<void>
  /** The time from `from` to `to` less `stalledBetween`, once the sampler has caught up with `to`. */
  readonly running: (from: number, to: number) => Effect.Effect<number>
  readonly stop: () => void
}

/** Starts measuring now; `stop` it when done (its timer does not keep the process alive). */
export const monitorEventLoopLag = (): EventLoopLag => {
  const stalls: Array<{ readonly end: number; readonly length: number }> = []
  let last = Date.now()
  const timer = setInterval(() => {
    const now = Date.now()
    const late = now - last - STEP_MS
    last = now
    if (late > 0) stalls.push({ end: now, length: late })
    while (stalls.length > 0 && stalls[0]!.end < now - MEMORY_MS) stalls.shift()
  }, STEP_MS)
  timer.unref()
  const stalledBetween = (from: number, to: number) => {
    let total = 0
    for (const stall of stalls) {
      const overlap = Math.min(stall.end, to) - Math.max(stall.end - stall.length, from)
      if (overlap > 0) total += overlap
    }
    return total
  }
  const settle = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 4 * STEP_MS)))
  return {
    stalledBetween,
    settle,
    running: (from, to) => Effect.as(settle, to - from).pipe(Effect.map((span) => span - stalledBetween(from, to))),
    stop: () => clearInterval(timer)
  }
}

/** `monitorEventLoopLag` for the life of the current scope. */
export const eventLoopLag: Effect.Effect<EventLoopLag, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(monitorEventLoopLag),
  (lag) => Effect.sync(() => lag.stop())
)

/** Waits, in real time, until `check` holds (at most `within` ms); returns how long it took, or fails the test. */
export const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, within = PATIENCE) =>
  Effect.gen(function* () {
    const start = Date.now()
    while (Date.now() - start < within) {
      if (yield* check) return Date.now() - start
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 2)))
    }
    return yield* Effect.die(new Error(`condition not met within ${within} ms`))
  })
