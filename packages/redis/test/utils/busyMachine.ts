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
  /** The stalls themselves, as `[start, end]` (`Date.now()`), clipped to `from`..`to`: to merge with another process's. */
  readonly stallsBetween: (from: number, to: number) => Array<readonly [number, number]>
  /** Waits until the sampler has seen the stalls that ended by now. */
  readonly settle: Effect.Effect<void>
  /** The time from `from` to `to` less `stalledBetween`, once the sampler has caught up with `to`. */
  readonly running: (from: number, to: number) => Effect.Effect<number>
  /** `running(from, Date.now())`, for tests written with promises. */
  readonly runningSince: (from: number) => Promise<number>
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
  const stallsBetween = (from: number, to: number) =>
    stalls.flatMap((stall): Array<readonly [number, number]> => {
      const start = Math.max(stall.end - stall.length, from)
      const end = Math.min(stall.end, to)
      return end > start ? [[start, end]] : []
    })
  const stalledBetween = (from: number, to: number) => totalOf(stallsBetween(from, to))
  const settle = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 4 * STEP_MS)))
  const running = (from: number, to: number) =>
    Effect.as(settle, to - from).pipe(Effect.map((span) => span - stalledBetween(from, to)))
  return {
    stalledBetween,
    stallsBetween,
    settle,
    running,
    runningSince: (from) => Effect.runPromise(running(from, Date.now())),
    stop: () => clearInterval(timer)
  }
}

/** The time covered by `intervals` (`[start, end]` pairs, which may overlap: several processes' stalls), each moment once. */
export const totalOf = (intervals: ReadonlyArray<readonly [number, number]>): number => {
  let total = 0
  let reached = Number.NEGATIVE_INFINITY
  for (const [start, end] of [...intervals].sort((x, y) => x[0] - y[0])) {
    if (end > reached) total += end - Math.max(start, reached)
    reached = Math.max(reached, end)
  }
  return total
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
