/**
 * How breakers read time, in milliseconds. Exported through `@circuit-breaker/core/internal`.
 *
 * @since 0.1.0
 */
import type * as Clock from "effect/Clock"
import * as internal from "./internal/attemptTimer.js"

/**
 * The time breakers read from a Clock, in milliseconds. On the live clock it reads the
 * monotonic clock (sub-millisecond precision for latencies, no jumps when the wall clock is
 * set); any other clock (TestClock) is read as it is. A store that converts times (such as
 * the Redis store) must read time the same way.
 *
 * @since 0.1.0
 * @category utils
 */
export const clockNow: (clock: Clock.Clock) => number = internal.clockNow
