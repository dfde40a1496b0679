/**
 * How an Effect attempt is timed: the attempt timer (a node of a deadline list: the breaker's
 * own on the live clock, one per clock on a test clock), and the Effect-runtime details that a
 * timeout without a fork relies on (a fiber's children, its interruption). The fence tests in
 * `test/runtimeFence.test.ts` fail if a version of effect changes either.
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import { Clock as ClockTag } from "effect/Clock"
import type * as Context_ from "effect/Context"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as HashSet from "effect/HashSet"
import * as Runtime from "effect/Runtime"
import { Deadline, Deadlines, type Timers } from "../Deadlines.js"

const liveClock = Context.get(DefaultServices.liveServices, ClockTag)
/**
 * Read once: the global `performance` is a lazy getter of Node's (a call on every read), and
 * `performance.timeOrigin` a getter that allocates a number on every read.
 */
const livePerformance = performance
const timeOrigin = livePerformance.timeOrigin
/** @internal */
export const liveNow = (): number => timeOrigin + livePerformance.now()

/** @internal */
export const clockNow = (clock: Clock.Clock): number =>
  clock === liveClock ? liveNow() : clock.unsafeCurrentTimeMillis()

let lastServices: Context_.Context<DefaultServices.DefaultServices> = DefaultServices.liveServices
let lastClock: Clock.Clock = liveClock

/** The fiber's Clock, remembered for the last services seen (they rarely change). */
export const clockOf = (services: Context_.Context<DefaultServices.DefaultServices>): Clock.Clock => {
  if (services !== lastServices) {
    lastServices = services
    lastClock = Context.get(services, ClockTag)
  }
  return lastClock
}

/**
 * Timers that sleep on an Effect Clock (a TestClock): what the deadline list of a test clock
 * arms, so that its adjustments expire the deadlines.
 */
const clockTimers = (clock: Clock.Clock): Timers<Fiber.RuntimeFiber<void>> => ({
  set: (callback, delay) => Effect.runFork(Effect.zipRight(clock.sleep(Duration.millis(delay)), Effect.sync(callback))),
  clear: (sleeper) => sleeper.unsafeInterruptAsFork(FiberId.none),
  ref: () => {},
  unref: () => {}
})

const otherClocks = new WeakMap<Clock.Clock, Deadlines>()

/**
 * The deadline list of the attempts timed on `clock`: the breaker's own on the live clock
 * (`live`, one Node timer for every attempt), else one per clock, whose timer sleeps on it.
 * Every attempt is timed by a deadline list: the test clock's runs the very same code.
 */
export const deadlinesOn = (clock: Clock.Clock, live: () => Deadlines): Deadlines => {
  if (clock === liveClock) return live()
  let list = otherClocks.get(clock)
  if (list === undefined) {
    list = new Deadlines(() => clock.unsafeCurrentTimeMillis(), clockTimers(clock))
    otherClocks.set(clock, list)
  }
  return list
}

/**
 * One attempt's timeout, and what happened when it fired: a node of a deadline list (one
 * timer serves every attempt, and no closure is made per attempt).
 */
export class AttemptTimer extends Deadline {
  timedOut = false
  /** The interruptor the timer used, once it fired. */
  interruptor: FiberId.FiberId | undefined = undefined
  private settled = false
  private list: Deadlines | undefined = undefined

  constructor(private readonly target: Fiber.RuntimeFiber<unknown, unknown>) {
    super()
  }

  /** Starts the timer: a deadline `millis` after `now` (when the attempt began, if the caller read the clock already). */
  start(clock: Clock.Clock, millis: number, deadlines: Deadlines, now?: number): this {
    this.at = (now ?? clockNow(clock)) + millis
    deadlines.insert(this)
    this.list = deadlines
    return this
  }

  /** Interrupts the target, once, and never after `cancel`. */
  expire(): void {
    if (this.settled) return
    this.settled = true
    this.timedOut = true
    this.interruptor = FiberId.make(nextInterruptorId++, 0)
    this.target.unsafeInterruptAsFork(this.interruptor)
  }

  cancel(): void {
    this.settled = true
    this.list?.remove(this)
  }
}

let nextInterruptorId = 1

/** What `failed` needs to know of an attempt's timeout. */
export type AttemptContext = Pick<AttemptTimer, "timedOut">

/** The context of an attempt that has no timer. */
export const NOT_TIMED: AttemptContext = { timedOut: false }

/** Whether the fiber is being interrupted (by its caller: a timer's own interruptor is withdrawn first). */
export const callerInterrupted = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  !Cause.isEmpty(fiber.getFiberRef(FiberRef.interruptedCause))

/**
 * Whether the fiber has child fibers (forked and still running). Effect exposes this only
 * as an effect (`Fiber.children`); the runtime's own field is read here, and when it is not
 * there (another version of effect) the answer is "yes", the safe one.
 */
export const hasChildren = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => {
  const children = childrenField(fiber)
  return children === undefined || (children !== null && children.size > 0)
}

/** The fibers the fiber has forked and that still run; `undefined` when none (or when it cannot tell). */
export const childrenOf = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>
): Array<Fiber.RuntimeFiber<any, any>> | undefined => {
  const children = childrenField(fiber)
  return children === undefined || children === null || children.size === 0 ? undefined : Array.from(children)
}

/** The runtime's own set of a fiber's children (`null` before the first fork), or `undefined` if it has none. */
export const childrenField = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>
): ReadonlySet<Fiber.RuntimeFiber<any, any>> | null | undefined =>
  (fiber as unknown as { readonly _children?: ReadonlySet<Fiber.RuntimeFiber<any, any>> | null })._children

/** Whether `cause` was interrupted by some fiber other than `interruptor`. */
export const interruptedElsewhere = (cause: Cause.Cause<unknown>, interruptor: FiberId.FiberId): boolean =>
  HashSet.some(Cause.interruptors(cause), (id) => !Equal.equals(id, interruptor))

/** Takes one interruptor off the current fiber's interruption, leaving any other in place. */
export const withdrawInterruptor = (interruptor: FiberId.FiberId): Effect.Effect<void> =>
  FiberRef.update(FiberRef.interruptedCause, (cause) => {
    const interruptors = Cause.interruptors(cause)
    if (!HashSet.has(interruptors, interruptor)) return cause
    return HashSet.reduce(interruptors, Cause.empty as Cause.Cause<never>, (rest, id) =>
      Equal.equals(id, interruptor) ? rest : Cause.sequential(rest, Cause.interrupt(id))
    )
  })

/**
 * The end of a timed attempt that ran in the caller's fiber, when its timer fired or it
 * forked fibers: the timer's interruptor is taken back, the fibers the attempt forked
 * (children of the caller's fiber now, which had none before) are interrupted and awaited,
 * as a forked attempt's children would be, and then `next` runs. A timer that fired while
 * the caller was being interrupted from elsewhere (the attempt's finalizers ran past the
 * deadline) did not time the attempt out: it was interrupted.
 */
export const endTimed = <X, E2, R2>(
  timer: AttemptTimer,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  cause: Cause.Cause<unknown> | undefined,
  next: (ctx: AttemptContext) => Effect.Effect<X, E2, R2>
): Effect.Effect<X, E2, R2> => {
  const interruptor = timer.interruptor
  const timedOut =
    timer.timedOut && (cause === undefined || interruptor === undefined || !interruptedElsewhere(cause, interruptor))
  let before: Effect.Effect<void> | undefined = interruptor === undefined ? undefined : withdrawInterruptor(interruptor)
  const children = childrenOf(fiber)
  if (children !== undefined) {
    before = before === undefined ? Fiber.interruptAll(children) : Effect.zipRight(before, Fiber.interruptAll(children))
  }
  const ctx = timedOut ? timer : NOT_TIMED
  return before === undefined
    ? next(ctx)
    : Effect.zipRight(
        before,
        Effect.suspend(() => next(ctx))
      )
}

/**
 * Runs `effect` in a fiber of its own, interrupted when the timeout passes; the caller
 * waits for the interruption to finish, as with `Effect.timeout`. For callers whose
 * fiber has children, which an interruption of their own fiber would reach.
 */
export const withTimeoutForked = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  clock: Clock.Clock,
  millis: number,
  deadlines: Deadlines,
  ctx: { timedOut: boolean }
): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime<A, E, R>((parent, status) => {
    const runtime = Runtime.make({
      context: parent.currentContext as Context_.Context<R>,
      runtimeFlags: status.runtimeFlags,
      fiberRefs: parent.getFiberRefs()
    })
    return Effect.async<A, E>((resume) => {
      const fiber = Runtime.runFork(runtime)(effect)
      const done = fiber.unsafePoll()
      if (done !== null) {
        resume(Effect.zipRight(Fiber.inheritAll(fiber), done))
        return
      }
      const timer = new AttemptTimer(fiber).start(clock, millis, deadlines)
      fiber.addObserver((exit) => {
        timer.cancel()
        ctx.timedOut = timer.timedOut
        // As with `Effect.timeout` (a fork and a join), the caller inherits the FiberRef
        // changes the attempt made.
        resume(Effect.zipRight(Fiber.inheritAll(fiber), exit))
      })
      return Effect.suspend(() => {
        timer.cancel()
        return Fiber.interrupt(fiber)
      })
    })
  })
