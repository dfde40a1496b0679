/**
 * A breaker in front of a simulated flaky service, on the in-memory store, in real time:
 * it trips, rejects, goes half-open and closes, and the demo prints the timeline and the
 * breaker's metrics.
 */
import { CircuitBreaker, type CircuitBreakerMetrics } from "@circuit-breaker/core"
import type {
  BulkheadRejectedError,
  CircuitOpenError,
  CircuitTimeoutError
} from "@circuit-breaker/core/CircuitBreakerError"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Stream from "effect/Stream"
import { keepServing } from "./monitor.js"

type Health = "healthy" | "down" | "slow"

class ServiceUnavailable extends Data.TaggedError("ServiceUnavailable")<{ readonly status: number }> {
  override get message() {
    return `${this.status} Service Unavailable`
  }
}

/** A payment API whose health the demo script changes as it goes. */
const makeService = () => {
  let health: Health = "healthy"
  let served = 0
  const call = Effect.suspend(() => {
    served++
    switch (health) {
      case "healthy":
        return Effect.as(Effect.sleep("20 millis"), `payment #${served} accepted`)
      case "slow":
        return Effect.as(Effect.sleep("2 seconds"), `payment #${served} accepted (slowly)`)
      case "down":
        return Effect.zipRight(Effect.sleep("5 millis"), Effect.fail(new ServiceUnavailable({ status: 503 })))
    }
  })
  return {
    call,
    setHealth: (next: Health) => Effect.sync(() => (health = next)),
    served: () => served
  }
}

/** What the counters printed at the end mean, with this run's figures. */
const explainMetrics = (m: CircuitBreakerMetrics.MetricsTotals): ReadonlyArray<string> => [
  m.totalCalls === m.successCalls + m.failureCalls
    ? `  totalCalls ${m.totalCalls} = successCalls ${m.successCalls} + failureCalls ${m.failureCalls}.`
    : `  totalCalls ${m.totalCalls}: every call to execute.`,
  `  failureCalls counts every call that did not succeed: the ${m.rejectedCalls} rejected at once while the`,
  `  circuit was open (rejectedCalls; the service never saw them) and the ${m.timeoutCalls} that timed out`,
  "  (timeoutCalls) are failures too, besides the calls the service itself failed.",
  `  retries ${m.retries}: extra attempts after a failed one; lastFailures below lists each failed attempt.`,
  "  Latency is per call, from execute to its end: retries and their delays included.",
  ""
]

/** How a call that did not succeed ended, in the timeline's words. */
const describeFailure = (
  error: CircuitOpenError | CircuitTimeoutError | BulkheadRejectedError | ServiceUnavailable
): string =>
  error._tag === "CircuitOpenError"
    ? `rejected at once (circuit open, retry after ${Math.round(Duration.toMillis(error.retryAfter))} ms)`
    : error._tag === "CircuitTimeoutError"
      ? `timed out (${error.message})`
      : `failed: ${error.message}`

/** The metrics at the end of the timeline, with what each figure counts. */
const printMetrics = (m: CircuitBreakerMetrics.CircuitMetrics, started: number) =>
  Effect.gen(function* () {
    yield* Console.log("")
    yield* Console.log("Metrics (counted per call to execute, not per attempt)")
    yield* Console.table({
      state: m.state,
      totalCalls: m.totalCalls,
      successCalls: m.successCalls,
      failureCalls: m.failureCalls,
      rejectedCalls: m.rejectedCalls,
      timeoutCalls: m.timeoutCalls,
      retries: m.retries,
      "latency mean (ms)": Math.round(m.latency.mean),
      "latency p99 (ms)": Math.round(m.latency.p99)
    })
    for (const line of explainMetrics(m)) yield* Console.log(line)
    yield* Console.log(`last failures (${m.lastFailures.length}, oldest first):`)
    for (const f of m.lastFailures) {
      yield* Console.log(
        `  attempt ${f.attempt} at +${f.timestamp - started} ms: ${f.error instanceof Error ? f.error.message : String(f.error)}`
      )
    }
  })

/** Three failures open it for a second; each attempt gets 300 ms and one retry. */
const demoOptions = {
  name: "payments",
  failureThreshold: 3,
  resetTimeout: "1 second",
  successThreshold: 2,
  timeout: "300 millis",
  maxRetries: 1,
  retryDelay: "50 millis",
  jitter: false
} as const

const program = Effect.gen(function* () {
  const started = Date.now()
  const at = () => `+${String(Date.now() - started).padStart(5)} ms`
  const say = (line: string) => Console.log(`${at()}  ${line}`)

  const service = makeService()
  const breaker = yield* CircuitBreaker.make(demoOptions)

  const watcher = yield* breaker.changes.pipe(
    Stream.runForEach((change) => say(`** state ${change.from} -> ${change.to}`)),
    Effect.fork
  )

  const callOnce = (label: string) =>
    breaker.execute(service.call).pipe(
      Effect.matchEffect({
        onSuccess: (result) => say(`${label}: ok, ${result}`),
        onFailure: (error) => say(`${label}: ${describeFailure(error)}`)
      }),
      // Let the state-change watcher print before the next line of the timeline.
      Effect.zipLeft(Effect.yieldNow())
    )

  yield* say("The payment service is healthy.")
  yield* callOnce("call 1")
  yield* callOnce("call 2")

  yield* service.setHealth("down")
  yield* say("The payment service goes down (every call fails with 503).")
  for (const n of [3, 4]) yield* callOnce(`call ${n}`)
  yield* say(`state: ${(yield* breaker.state)._tag}`)
  for (const n of [5, 6, 7]) yield* callOnce(`call ${n}`)
  yield* say(`the service was called ${service.served()} times in all: rejected calls never reached it`)

  yield* service.setHealth("healthy")
  yield* say("The service recovers; the breaker waits out its 1 s reset timeout.")
  yield* Effect.sleep("1 second")
  yield* say(`state: ${(yield* breaker.state)._tag} (no call needed to see it)`)
  yield* callOnce("call 8 (trial)")
  yield* callOnce("call 9 (trial)")
  yield* callOnce("call 10")

  yield* service.setHealth("slow")
  yield* say("The service turns slow (2 s per call); the breaker times each attempt out after 300 ms.")
  yield* callOnce("call 11")
  yield* service.setHealth("healthy")
  yield* callOnce("call 12")

  yield* Effect.sleep("10 millis")
  yield* Fiber.interrupt(watcher)
  yield* printMetrics(yield* breaker.metrics, started)
  if (process.argv.includes("--monitor")) yield* keepServing(breaker, service)
})

Effect.runPromise(program.pipe(Logger.withMinimumLogLevel(LogLevel.Warning))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
