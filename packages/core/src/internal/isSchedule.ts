/**
 * `Schedule.isSchedule` without loading `effect/Schedule` (the Promise API's options must not
 * load it): a Schedule's type id is a registered symbol. `test/isSchedule.test.ts` fails the
 * day that stops being true.
 *
 * @internal
 */
export const ScheduleTypeId: unique symbol = Symbol.for("effect/Schedule") as never

/** @internal A hostile value (a Proxy whose traps throw) is no Schedule, rather than an exception. */
export const isScheduleValue = (u: unknown): boolean => {
  try {
    return typeof u === "object" && u !== null && ScheduleTypeId in u
  } catch {
    return false
  }
}
