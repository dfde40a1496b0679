import type * as CircuitBreaker from "@circuit-breaker/core/CircuitBreaker"
import * as RetryBackoff from "@circuit-breaker/core/RetryBackoff"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import type * as ScheduleIntervals from "effect/ScheduleIntervals"

/** The delay before the next attempt, and the retry state the one after it starts from. */
export interface RetryDelay {
  readonly millis: number
  readonly state: unknown
}

/** A call's retry state before its first retry. */
export const initialRetryState: unique symbol = Symbol("NoRetryYet")

interface EffectModule {
  readonly Effect: typeof Effect
  readonly ScheduleIntervals: typeof ScheduleIntervals
}

let effectModule: EffectModule | undefined
let loadingEffect: Promise<EffectModule> | undefined

/** The Effect runtime, loaded on first use: only a custom `retrySchedule` needs it on the Promise path. */
const loadEffect = (): Promise<EffectModule> =>
  (loadingEffect ??= Promise.all([import("effect/Effect"), import("effect/ScheduleIntervals")]).then(
    ([Effect, ScheduleIntervals]) => (effectModule = { Effect, ScheduleIntervals })
  ))

/**
 * The delays between a call's attempts. The built-in backoffs are pure arithmetic
 * (`RetryBackoff`), so the Promise API loads no `Schedule` for them; a custom `retrySchedule`
 * is stepped with the Effect runtime, loaded when the breaker is made (and awaited at the
 * first retry if it is not there yet).
 */
export class RetryDelays {
  private readonly backoff: RetryBackoff.RetryBackoff | undefined
  private readonly schedule: Schedule.Schedule<unknown, unknown> | undefined

  constructor(options: CircuitBreaker.CircuitBreaker.Resolved) {
    this.schedule = options.retrySchedule
    this.backoff =
      options.retrySchedule === undefined && options.maxRetries > 0
        ? {
            kind: options.retryBackoff,
            baseMillis: Duration.toMillis(options.retryDelay),
            maxMillis: Duration.toMillis(options.maxRetryDelay),
            jitter: options.jitter,
            maxRetries: options.maxRetries
          }
        : undefined
    if (this.schedule !== undefined) loadEffect().catch(() => {})
  }

  /**
   * The delay before the retry after the failure of attempt `attempt` at `time` (with
   * `error`), or `undefined` when no retry is left. A Promise only while a custom Schedule
   * waits for the Effect runtime to load.
   */
  next(
    attempt: number,
    time: number,
    error: unknown,
    state: unknown
  ): RetryDelay | undefined | Promise<RetryDelay | undefined> {
    if (this.backoff !== undefined) {
      const millis = RetryBackoff.delay(this.backoff, attempt, Math.random())
      return millis === undefined ? undefined : { millis, state }
    }
    const schedule = this.schedule
    if (schedule === undefined) return undefined
    if (effectModule === undefined) return loadEffect().then((module) => step(module, schedule, time, error, state))
    return step(effectModule, schedule, time, error, state)
  }
}

/** One step of a custom Schedule; a step that is asynchronous (or fails) ends the call. */
const step = (
  { Effect, ScheduleIntervals }: EffectModule,
  schedule: Schedule.Schedule<unknown, unknown>,
  time: number,
  error: unknown,
  state: unknown
): RetryDelay | undefined => {
  const exit = Effect.runSyncExit(schedule.step(time, error, state === initialRetryState ? schedule.initial : state))
  if (exit._tag === "Failure") return undefined
  const [next, , decision] = exit.value
  if (decision._tag === "Done") return undefined
  return { millis: Math.max(0, ScheduleIntervals.start(decision.intervals) - time), state: next }
}
