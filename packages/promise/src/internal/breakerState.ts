// Module by module, never the entry points: importing the Promise API loads only what a call needs.
import * as CallPolicy from "@circuit-breaker/core/CallPolicy"
import type * as CircuitBreaker from "@circuit-breaker/core/CircuitBreaker"
import { CircuitBreakerConfigError } from "@circuit-breaker/core/CircuitBreakerError"
import * as CircuitBreakerOptions from "@circuit-breaker/core/CircuitBreakerOptions"
import * as CircuitBreakerState from "@circuit-breaker/core/CircuitBreakerState"
import type * as CircuitBreakerStore from "@circuit-breaker/core/CircuitBreakerStore"
import type * as Deadlines from "@circuit-breaker/core/Deadlines"
import * as LiveCircuits from "@circuit-breaker/core/LiveCircuits"
import {
  countOutcome,
  emptyMetrics,
  type LiveMetrics,
  liveMetrics,
  makeRecorder,
  type Recorder
} from "@circuit-breaker/core/MetricsRecorder"
import * as Duration from "effect/Duration"
import type * as API from "../AdvancedCircuitBreaker.js"
import { CircuitBreakerDisposedError } from "../errors.js"
import { NoError } from "./attempt.js"
import { type Connection, connect, type SharedTarget } from "./distributed.js"
import type { Log } from "./logger.js"
import type { RetryDelays } from "./retryDelays.js"
import { type CircuitState, describeThrown, notify, now, stateNames, toDistributedState } from "./support.js"

/**
 * A Promise breaker's state: its circuit (its own, or the shared store's), the announcements
 * of changes and outcomes to listeners, the manual operations, and disposal. The execution of
 * calls is in `breaker.ts`.
 */
export abstract class BreakerState {
  readonly name: string
  /**
   * The shared store once it is open (distributedTracking); until then, and for every
   * breaker without one, the state lives in `lastKnown` alone.
   */
  protected store: CircuitBreakerStore.Store | undefined = undefined
  protected readonly connection: Connection | undefined
  /**
   * The state: this breaker's own, or the last it saw of the shared one (a change made by
   * another process is announced here too).
   */
  protected lastKnown: CircuitState
  protected readonly policy: CircuitBreakerState.Policy<any>
  protected readonly initialState: CircuitState
  protected readonly recorder: Recorder | undefined
  protected readonly options: CircuitBreaker.CircuitBreaker.Resolved
  /** Made at the first failure: an idle breaker holds none. */
  protected retryDelays: RetryDelays | undefined = undefined
  protected readonly timeoutMillis: number
  protected readonly callPolicy: CallPolicy.CallPolicy
  protected readonly disposal = new AbortController()
  /** `disposal.signal.aborted`, read on every call without the signal's getter. */
  protected disposed = false
  /** Made for the first call: an idle breaker holds no list. */
  protected deadlineList: Deadlines.Deadlines | undefined = undefined
  protected stateListeners: Set<(event: API.StateChangeEvent) => void> | undefined
  protected outcomeListeners: Set<(event: API.CallOutcomeEvent) => void> | undefined

  constructor(
    options: CircuitBreaker.CircuitBreaker.Resolved,
    target: SharedTarget | undefined,
    protected readonly log: Log | undefined
  ) {
    this.name = options.name
    this.policy = CircuitBreakerOptions.policyOf(options)
    this.initialState = CircuitBreakerState.initial(this.policy, now())
    this.recorder = options.metricsTracking
      ? makeRecorder(options.name, options.serviceId, options.failureHistorySize)
      : undefined
    this.options = options
    this.timeoutMillis = Duration.isFinite(options.timeout) ? Duration.toMillis(options.timeout) : 0
    this.callPolicy = CallPolicy.fromOptions(options)
    this.lastKnown = this.initialState
    this.slowMs = options.policies.window?.thresholds.slowCallDurationThreshold
    LiveCircuits.register(this, this.recorder)
    if (target !== undefined) {
      this.connection = connect(target[0], target[1], options)
      this.connection.ready.then(
        (store) => {
          // `disposed`, not the signal: an idle breaker's signal is never made (an object of hundreds of bytes).
          if (!this.disposed) this.store = store
        },
        (error) =>
          process.emitWarning(
            `circuit "${this.name}": the shared store could not be opened (${describeThrown(error)})`,
            {
              code: "CIRCUIT_BREAKER_STORE"
            }
          )
      )
    }
  }

  // --- state ---------------------------------------------------------------------

  /** Applies a pure transition to the stored state, synchronously, and announces a change of state. */
  protected apply<A>(
    f: (state: CircuitState) => readonly [A, CircuitState],
    cause?: unknown,
    reason?: API.StateChangeEvent["reason"]
  ): readonly [A, CircuitState] {
    const store = this.store
    if (store === undefined) return this.observe(f(this.lastKnown), cause, reason)
    let result!: readonly [A, CircuitState]
    store.unsafeModify!(this.name, this.initialState, (current) => {
      result = f(current as CircuitState)
      return result
    })
    return this.observe(result, cause, reason)
  }

  /** Announces a change from the state this breaker saw last. */
  protected observe<A>(
    result: readonly [A, CircuitState],
    cause?: unknown,
    reason?: API.StateChangeEvent["reason"]
  ): readonly [A, CircuitState] {
    this.observeState(result[1], cause, reason)
    return result
  }

  protected observeState(next: CircuitState, cause: unknown, reason?: API.StateChangeEvent["reason"]): CircuitState {
    const previous = this.lastKnown
    this.lastKnown = next
    if (next.mode !== previous.mode)
      this.recorder?.mode(CircuitBreakerState.modeOf(previous), CircuitBreakerState.modeOf(next))
    // A reset is always announced, even from CLOSED to CLOSED.
    if (next._tag !== previous._tag || reason === "reset") {
      if (next._tag !== previous._tag) this.recorder?.state(next._tag)
      const from = stateNames[previous._tag]
      const to = stateNames[next._tag]
      notify(this.stateListeners, { circuit: this.name, from, to, time: next.since, cause, reason })
      this.log?.({
        level: "info",
        message: `circuit ${from} -> ${to}`,
        circuit: this.name,
        time: Date.now(),
        annotations: reason === undefined ? { from, to } : { from, to, reason }
      })
    }
    return next
  }

  /** Applies a manual operation's event now. */
  protected manual(event: (now: number) => CircuitBreakerState.CircuitEvent, reason: API.StateChangeEvent["reason"]) {
    const e = event(now())
    return this.apply((s) => [undefined, CircuitBreakerState.transition(this.policy, s, e)], undefined, reason)[1]
  }

  /** With a slow-call rule: an attempt longer than this is slow. */
  protected readonly slowMs: number | undefined

  /** The recorder, unless the circuit is `disabled` (which records nothing). */
  protected get counting(): Recorder | undefined {
    return this.lastKnown.mode === "disabled" ? undefined : this.recorder
  }

  /** Records an attempt's outcome, then counts a slow call and the window's rates. */
  protected record(
    tag: "Succeeded" | "Failed" | "TimedOut" | "Interrupted",
    ticket: CircuitBreakerState.Ticket,
    time: number,
    cause?: unknown,
    durationMs?: number,
    retryAfter?: number
  ): CircuitState {
    const state = this.recordState(tag, ticket, time, cause, durationMs, retryAfter)
    if (tag !== "Interrupted") countOutcome(this.counting, this.policy, state, durationMs, this.slowMs)
    return state
  }

  /** Records an attempt's outcome: how long it took (for slow calls) and a `Retry-After` the service gave. */
  private recordState(
    tag: "Succeeded" | "Failed" | "TimedOut" | "Interrupted",
    ticket: CircuitBreakerState.Ticket,
    time: number,
    cause: unknown,
    durationMs: number | undefined,
    retryAfter: number | undefined
  ): CircuitState {
    const event: CircuitBreakerState.CircuitEvent =
      tag === "Failed"
        ? { _tag: tag, now: time, generation: ticket.generation, trial: ticket.trial, durationMs, retryAfter }
        : { _tag: tag, now: time, generation: ticket.generation, trial: ticket.trial, durationMs }
    const store = this.store
    if (store === undefined) {
      return this.observeState(CircuitBreakerState.transition(this.policy, this.lastKnown, event), cause)
    }
    if (store.unsafeGet !== undefined) {
      // Most outcomes change nothing (a success with no failures counted): no modify then.
      const current = store.unsafeGet(this.name, this.initialState) as CircuitState
      const next = CircuitBreakerState.transition(this.policy, current, event)
      if (next === current) return this.observeState(current, cause)
    }
    return this.apply((s) => [undefined, CircuitBreakerState.transition(this.policy, s, event)], cause)[1]
  }

  protected emit(
    outcome: API.CallOutcomeEvent["outcome"],
    attempt: number,
    time: number,
    args: ReadonlyArray<unknown>,
    latency?: number,
    error: unknown = NoError
  ): void {
    if (this.outcomeListeners === undefined || this.outcomeListeners.size === 0) return
    const event: { -readonly [K in keyof API.CallOutcomeEvent]: API.CallOutcomeEvent[K] } = {
      circuit: this.name,
      outcome,
      attempt,
      time,
      args
    }
    if (latency !== undefined) event.latency = latency
    if (error !== NoError) event.error = error
    notify(this.outcomeListeners, event)
  }

  /** The state now, with the passage of time applied. */
  protected current(): CircuitState {
    const t = now()
    return this.apply((s) => [undefined, CircuitBreakerState.advance(this.policy, s, t)])[1]
  }

  getState(): API.CircuitStateName {
    return stateNames[this.current()._tag]
  }

  getMetrics(): API.CircuitMetrics {
    const state = this.current()
    const live = liveMetrics(this.policy, state, now())
    const snapshot = this.recorder?.snapshot(state._tag, live) ?? {
      ...emptyMetrics(this.name, state._tag),
      ...live
    }
    return { ...snapshot, state: stateNames[state._tag] }
  }

  /** @internal The window's rates as of now and the mode, for the monitor: `getMetrics()` without the counters. */
  liveWindow(): LiveMetrics {
    return liveMetrics(this.policy, this.current(), now())
  }

  setMode(mode: API.Mode): Promise<void> {
    const invalid = CircuitBreakerOptions.invalidMode(mode)
    if (invalid !== undefined) return Promise.reject(invalid)
    this.manual((t) => ({ _tag: "ModeChanged", now: t, mode }), undefined)
    return Promise.resolve()
  }

  getMode(): API.Mode {
    return CircuitBreakerState.modeOf(this.current())
  }

  reset(): Promise<void> {
    this.manual((t) => ({ _tag: "Reset", now: t }), "reset")
    return Promise.resolve()
  }

  trip(): Promise<void> {
    this.manual((t) => ({ _tag: "Tripped", now: t }), "trip")
    return Promise.resolve()
  }

  isolate(): API.IsolationHandle {
    if (this.disposal.signal.aborted) throw new CircuitBreakerDisposedError(this.name)
    const { generation } = this.manual((t) => ({ _tag: "Isolated", now: t }), "isolate")
    let released = false
    const release = (): void => {
      if (released || this.disposal.signal.aborted) return
      released = true
      this.manual((t) => ({ _tag: "Released", now: t, generation }), "release")
    }
    return { release, [Symbol.dispose]: release }
  }

  getDistributedState(): Promise<API.DistributedState | null> {
    const connection = this.connection
    if (connection === undefined) return Promise.resolve(null)
    return connection.ready
      .then((store) => connection.runOrThrow(store.snapshot(this.name)))
      .then((snapshot) => toDistributedState(this.name, snapshot, this.policy.rule))
  }

  /** @internal What the shared store holds for every circuit under its prefix. */
  sharedCircuits(): Promise<Record<string, API.DistributedState>> | undefined {
    const connection = this.connection
    if (connection === undefined) return undefined
    return connection.ready.then(async (store) => {
      const names = await connection.runOrThrow(store.listCircuits)
      const out: Record<string, API.DistributedState> = {}
      for (const name of names) {
        out[name] = toDistributedState(name, await connection.runOrThrow(store.snapshot(name)), this.policy.rule)
      }
      return out
    })
  }

  onStateChange(listener: (event: API.StateChangeEvent) => void): () => void {
    return this.subscribe(listener, (this.stateListeners ??= new Set()))
  }

  onCallOutcome(listener: (event: API.CallOutcomeEvent) => void): () => void {
    return this.subscribe(listener, (this.outcomeListeners ??= new Set()))
  }

  protected subscribe<E>(listener: (event: E) => void, listeners: Set<(event: E) => void>): () => void {
    if (typeof listener !== "function") {
      throw new CircuitBreakerConfigError({ option: "listener", value: listener, reason: "must be a function" })
    }
    if (this.disposal.signal.aborted) return () => {}
    listeners.add(listener)
    return () => void listeners.delete(listener)
  }

  dispose(): Promise<void> {
    if (!this.disposed) {
      this.disposed = true
      this.disposal.abort(new CircuitBreakerDisposedError(this.name))
      // Calls in flight end now, with the disposal error (their functions' signals abort too).
      this.deadlineList?.expireAll()
      if (this.connection !== undefined) return this.connection.close()
      this.stateListeners = undefined
      this.outcomeListeners = undefined
    }
    return Promise.resolve()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose()
  }
}
