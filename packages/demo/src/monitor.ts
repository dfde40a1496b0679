/**
 * `npm run demo -- --monitor`: after the scripted timeline, the demo's breaker keeps running
 * against the simulated service (healthy, then down for a while, over and over), with the
 * monitor's dashboard served, until Ctrl-C.
 */
import type { CircuitBreaker } from "@circuit-breaker/core"
import { CircuitMonitor } from "@circuit-breaker/monitor"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"

type Health = "healthy" | "down" | "slow"

const cycle: ReadonlyArray<readonly [Health, number]> = [
  ["healthy", 20],
  ["down", 8],
  ["healthy", 15],
  ["slow", 5]
]

export const keepServing = (
  breaker: CircuitBreaker.CircuitBreaker,
  service: {
    readonly call: Effect.Effect<string, unknown>
    readonly setHealth: (health: Health) => Effect.Effect<Health>
  }
) =>
  Effect.gen(function* () {
    const port = Number(process.env.MONITOR_PORT ?? 9465)
    yield* Layer.build(CircuitMonitor.layer({ port }))
    yield* Console.log("")
    yield* Console.log(`Dashboard: http://127.0.0.1:${port}/   (metrics at /metrics; Ctrl-C to stop)`)
    const health = Effect.forever(
      Effect.forEach(cycle, ([state, seconds]) =>
        Effect.zipRight(service.setHealth(state), Effect.sleep(`${seconds} seconds`))
      )
    )
    const calls = Effect.ignore(breaker.execute(service.call)).pipe(
      Effect.fork,
      Effect.repeat(Schedule.spaced("50 millis"))
    )
    yield* Effect.raceFirst(health, calls)
  }).pipe(Effect.scoped)
