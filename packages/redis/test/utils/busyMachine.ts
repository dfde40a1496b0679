/**
 * Real-time tests on a busy machine (other processes competing for the CPU):
 *
 * - `eventLoopLag`: how late this process's timers fire, measured while a test runs. A timeout of 100 ms ends after
 *   100 ms plus that lag: tests that bound a wait in real time add the measured lag to their bound, instead of a fixed
 *   allowance that holds only on an idle machine.
 * - `PATIENCE`: how long a test waits for a condition it needs before what it asserts (a state reached through
 *   Redis), unless it says otherwise.
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import * as Effect from "effect/Effect"

/** How long a test waits for a condition unless it says otherwise: a loaded machine can be slow to get there. */
export const PATIENCE = 10_000

/** How often the lag is sampled, in ms; added to what is measured, for a delay that began between two samples. */
const RESOLUTION_MS = 10

export interface EventLoopLag {
  /** The longest a timer fired late since the monitor started (or since `reset`), in ms, sampling step included. */
  readonly max: () => number
  /** Forgets what was measured so far. */
  readonly reset: () => void
  readonly stop: () => void
}

/** Starts measuring now; `stop` it when done (its sampling timer does not keep the process alive). */
export const monitorEventLoopLag = (): EventLoopLag => {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  histogram.enable()
  return {
    max: () => histogram.max / 1e6 + RESOLUTION_MS,
    reset: () => histogram.reset(),
    stop: () => histogram.disable()
  }
}

/** `monitorEventLoopLag` for the life of the current scope. */
export const eventLoopLag: Effect.Effect<EventLoopLag, never, import("effect/Scope").Scope> = Effect.acquireRelease(
  Effect.sync(monitorEventLoopLag),
  (lag) => Effect.sync(() => lag.stop())
)
