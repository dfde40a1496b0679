/**
 * One instance of a service in the soak: a child process with one Effect-API breaker on the shared circuit, through
 * the Redis store, calling a service at a steady rate. It logs every call, every trial, every change of state (read
 * about once a millisecond), its heap and anything that must never happen (see `records.ts`), and stops when its
 * parent sends `"stop"`: it then closes the breaker's scope and must exit by itself.
 *
 * Run with the TypeScript sources: `node --import tsx --conditions=source --expose-gc worker.ts <settings JSON>`.
 */
import { CircuitBreaker, CircuitBreakerStore, CircuitOpenError, CircuitTimeoutError } from "@circuit-breaker/core"
import { RedisCircuitBreakerStore } from "@circuit-breaker/redis"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import { type CallRecord, makeWriter, monotonicNow, type Outcome } from "./records.js"
import type { WorkerSettings } from "./settings.js"

const settings = JSON.parse(process.argv[2] ?? "") as WorkerSettings
const log = makeWriter(settings.logPath)

const crash = (what: string) => {
  log.write({ k: "crash", t: monotonicNow(), what })
  log.flush()
  process.exit(1)
}
process.on("uncaughtException", (error) => crash(`uncaught exception: ${String(error?.stack ?? error)}`))
process.on("unhandledRejection", (reason) => crash(`unhandled rejection: ${String(reason)}`))

/** Event-loop lag: each time the sampling timer fires more than a millisecond late, how late, for the checker. */
const LAG_STEP = 5
let lastTick = monotonicNow()
const lagTimer = setInterval(() => {
  const t = monotonicNow()
  const late = t - lastTick - LAG_STEP
  lastTick = t
  if (late > 1) log.write({ k: "lag", t, late })
}, LAG_STEP)

const heapTimer = setInterval(() => {
  globalThis.gc?.()
  log.write({ k: "heap", t: monotonicNow(), used: process.memoryUsage().heapUsed })
}, 2_000)

/** The service is down for the same stretch of every cycle, in every process (one machine-wide clock). */
const serviceDown = (t: number) => t % settings.serviceCycleMs < settings.serviceDownMs

const outcomeOf = (exit: Exit.Exit<string, unknown>): Outcome => {
  if (Exit.isSuccess(exit)) return "ok"
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (failure instanceof CircuitOpenError) return "open"
  if (failure instanceof CircuitTimeoutError) return "timeout"
  if (failure === "service down") return "failed"
  return "defect"
}

const callThrough = (breaker: CircuitBreaker.CircuitBreaker) =>
  Effect.gen(function* () {
    const start = monotonicNow()
    let serviceMs = 0
    const service = Effect.gen(function* () {
      const began = monotonicNow()
      const trial = (yield* breaker.state)._tag === "HalfOpen"
      yield* Effect.sleep(settings.serviceMinMs + Math.random() * (settings.serviceMaxMs - settings.serviceMinMs))
      const ended = monotonicNow()
      serviceMs = ended - began
      if (trial) log.write({ k: "trial", t: began, end: ended })
      return serviceDown(began) ? yield* Effect.fail("service down" as const) : "ok"
    })
    const exit = yield* Effect.exit(breaker.execute(service))
    const end = monotonicNow()
    const record: CallRecord = {
      k: "call",
      t: start,
      w: end - start - serviceMs,
      o: outcomeOf(exit)
    }
    log.write(record)
    if (record.o === "defect") log.write({ k: "crash", t: end, what: `a call ended in ${String(exit)}` })
  })

/** Calls at `callsPerSecond`, each in a fiber of its own, on a fixed timetable: a late tick does not slow the rate. */
const traffic = (breaker: CircuitBreaker.CircuitBreaker) =>
  Effect.gen(function* () {
    const interval = 1000 / settings.callsPerSecond
    let next = monotonicNow()
    for (;;) {
      next += interval
      // After a long stall, start afresh rather than fire a burst of catch-up calls.
      if (monotonicNow() - next > 1000) next = monotonicNow()
      yield* Effect.forkScoped(callThrough(breaker))
      yield* Effect.sleep(Math.max(0, next - monotonicNow()))
    }
  })

/**
 * Logs each change of the local state when a read first shows it, reading about once a millisecond. Not the
 * breaker's `changes`: a breaker notices a change made elsewhere only at its next call or state read (so the call
 * interval would be timed, not the store), and a stream's fiber logs it later still. A state read is decided on the
 * store's local view, with no Redis command.
 */
const watchState = (breaker: CircuitBreaker.CircuitBreaker) => {
  let last = "Closed"
  return setInterval(() => {
    const now = Effect.runSync(breaker.state)._tag
    if (now === last) return
    log.write({ k: "state", t: monotonicNow(), from: last, to: now })
    last = now
  }, 1)
}

const program = (stop: Deferred.Deferred<void>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const store = yield* RedisCircuitBreakerStore.make({
        url: settings.redisUrl,
        storeTimeout: settings.storeTimeoutMs,
        whenUnavailable: "local"
      })
      const breaker = yield* CircuitBreaker.make({
        name: settings.circuit,
        failureThreshold: settings.failureThreshold,
        successThreshold: settings.successThreshold,
        maxConcurrentTrials: settings.maxConcurrentTrials,
        resetTimeout: settings.resetTimeoutMs,
        timeout: 2_000,
        maxRetries: 0,
        distributedTracking: true
      }).pipe(Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store))
      yield* Effect.acquireRelease(
        Effect.sync(() => watchState(breaker)),
        (timer) => Effect.sync(() => clearInterval(timer))
      )
      yield* Effect.forkScoped(traffic(breaker))
      yield* Deferred.await(stop)
    })
  )

const stop = Deferred.unsafeMake<void>(FiberId.none)
process.on("message", (message) => {
  if (message === "stop") Deferred.unsafeDone(stop, Exit.void)
})
Effect.runPromise(program(stop)).then(
  () => {
    clearInterval(lagTimer)
    clearInterval(heapTimer)
    log.write({ k: "end", t: monotonicNow() })
    log.flush()
    // Nothing else may keep the process alive: it must exit by itself now.
    process.disconnect?.()
  },
  (error: unknown) => crash(`the worker's program failed: ${String(error)}`)
)
process.send?.("ready")
