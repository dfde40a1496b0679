import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type { OpenBackoff } from "./openDuration.js"

/**
 * What turns an `openBackoff` Schedule into open periods, or says why it cannot (kept in the
 * declarations: `policyOptions` names it).
 */
export type ScheduledOpenBackoff = (schedule: unknown, resetTimeout: number) => OpenBackoff | string

/** The open periods a Schedule lists: enough of them for any realistic run of failed trials; the last repeats. */
const SCHEDULED_PERIODS = 64

/**
 * The delays of an `openBackoff` Schedule, as milliseconds, computed once (a jittered
 * schedule is drawn once), or the reason it cannot serve. `Schedule.run` also returns the
 * output of the step that ends the schedule: it is dropped.
 *
 * Only the Effect API loads this module (it runs the schedule with the Effect runtime), so the
 * Promise API's options never bring the runtime in.
 *
 * @internal
 */
export const scheduledOpenBackoff: ScheduledOpenBackoff = (schedule, resetTimeout) => {
  let delays: ReadonlyArray<number>
  try {
    const inputs = Array.from({ length: SCHEDULED_PERIODS + 1 }, (_, i) => i)
    const outputs = Chunk.toReadonlyArray(
      Effect.runSync(Schedule.run(Schedule.delays(schedule as Schedule.Schedule<unknown, number>), 0, inputs))
    )
    delays = (outputs.length <= SCHEDULED_PERIODS ? outputs.slice(0, -1) : outputs.slice(0, SCHEDULED_PERIODS)).map(
      Duration.toMillis
    )
  } catch (error) {
    return `is a Schedule that could not be run (${String(error)})`
  }
  if (delays.length === 0 || !delays.every((d) => Number.isFinite(d) && d > 0)) {
    return "must be a Schedule of at least one positive, finite delay"
  }
  return { durations: delays, maxResetTimeout: Math.max(resetTimeout, ...delays) }
}
