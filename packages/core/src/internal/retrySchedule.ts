import * as Duration from "effect/Duration"
import * as Schedule from "effect/Schedule"
import type * as CircuitBreaker from "../CircuitBreaker.js"

/**
 * The retry Schedule that resolved options describe. Apart from the option validation, so
 * that validating options loads no `effect/Schedule` (the Promise API computes the built-in
 * delays with `RetryBackoff`).
 *
 * @internal
 */
export const retrySchedule = (
  o: CircuitBreaker.CircuitBreaker.Resolved
): Schedule.Schedule<unknown, unknown> | undefined => {
  if (o.retrySchedule !== undefined) return o.retrySchedule
  if (o.maxRetries === 0) return undefined
  const base: Schedule.Schedule<Duration.Duration> =
    o.retryBackoff === "exponential" ? Schedule.exponential(o.retryDelay, 2) : Schedule.linear(o.retryDelay)
  const jittered = o.jitter ? Schedule.jittered(base) : base
  const capped = Schedule.modifyDelay(jittered, (_, delay) => Duration.min(delay, o.maxRetryDelay))
  return Schedule.intersect(capped, Schedule.recurs(o.maxRetries))
}
