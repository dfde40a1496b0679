import type * as CallPolicy from "@circuit-breaker/core/CallPolicy"
import type * as CircuitBreakerState from "@circuit-breaker/core/CircuitBreakerState"
import * as Deadlines from "@circuit-breaker/core/Deadlines"
import type * as API from "../AdvancedCircuitBreaker.js"

/** The context of one attempt; its signal is built only if the function reads it. */
export class AttemptContext implements API.CallContext {
  private controller: AbortController | undefined
  private combined: AbortSignal | undefined
  private abortedWith: { readonly reason: unknown } | undefined
  timedOut = false

  constructor(
    readonly attempt: number,
    private readonly callerSignal: AbortSignal | undefined,
    private readonly disposeSignal: AbortSignal
  ) {}

  get signal(): AbortSignal {
    if (this.combined === undefined) {
      this.controller = new AbortController()
      // Read after the attempt ended (a request started late): the signal is aborted already.
      if (this.abortedWith !== undefined) this.controller.abort(this.abortedWith.reason)
      const signals = [this.controller.signal, this.disposeSignal]
      if (this.callerSignal !== undefined) signals.push(this.callerSignal)
      this.combined = AbortSignal.any(signals)
    }
    return this.combined
  }

  abort(reason: unknown): void {
    this.abortedWith ??= { reason }
    this.controller?.abort(reason)
  }
}

export const NoError = Symbol("NoError")
/** What an attempt in flight needs of its breaker. */
export interface AttemptHost<R> {
  deadlines(): Deadlines.Deadlines
  context(call: Call, attempt: number): AttemptContext
  succeeded(call: Call, ticket: CircuitBreakerState.Ticket, attempt: number, value: unknown): R
  failed(call: Call, ticket: CircuitBreakerState.Ticket, ctx: AttemptContext, error: unknown): Promise<R>
  timedOut(call: Call, ticket: CircuitBreakerState.Ticket, ctx: AttemptContext, attempt: number): Promise<R>
}

/**
 * An attempt whose function returned a promise; it is its own ticket. It settles the caller's
 * promise once: with the function's outcome, its timeout (a node of the breaker's deadlines:
 * no timer and no closure of its own), the caller's abort (it is the abort listener) or the
 * disposal. The first attempt of a call that holds a bulkhead slot gives the slot back as it
 * settles the call.
 */
export class PendingAttempt<R> extends Deadlines.Deadline implements CircuitBreakerState.Ticket {
  private settled = false
  private resolve!: (value: R | PromiseLike<R>) => void
  private reject!: (reason: unknown) => void
  private list: Deadlines.Deadlines | undefined = undefined
  /** The slot this attempt gives back when it settles the call. */
  private readonly slot: Slot | undefined

  constructor(
    private readonly breaker: AttemptHost<R>,
    private readonly call: Call,
    readonly generation: number,
    readonly trial: boolean,
    private readonly attempt: number,
    private ctx: AttemptContext | undefined
  ) {
    super()
    // The first attempt's promise is the call's: it settles when the call ends, retries included.
    this.slot = attempt === 1 ? call.slot : undefined
    if (this.slot !== undefined) call.slot = undefined
  }

  start(at: number): void {
    this.at = at
    const list = this.breaker.deadlines()
    list.insert(this)
    this.list = list
    this.call.signal?.addEventListener("abort", this, { once: true })
  }

  settleWith(result: PromiseLike<unknown>): Promise<R> {
    nextPending = this
    const promise = new Promise<R>(capture)
    try {
      result.then(
        (value) => this.succeed(value),
        (error) => this.fail(error)
      )
    } catch (error) {
      // A `then` that throws: the attempt failed, and nothing stays registered for it.
      this.fail(error)
    }
    return promise
  }

  /** @internal Called by `capture`, inside the Promise constructor. */
  bind(resolve: (value: R | PromiseLike<R>) => void, reject: (reason: unknown) => void): void {
    this.resolve = resolve
    this.reject = reject
  }

  private settle(): boolean {
    if (this.settled) return false
    this.settled = true
    this.list?.remove(this)
    this.call.signal?.removeEventListener("abort", this)
    return true
  }

  private context(): AttemptContext {
    return (this.ctx ??= this.breaker.context(this.call, this.attempt))
  }

  private succeed(value: unknown): void {
    if (!this.settle()) return
    try {
      this.resolve(this.breaker.succeeded(this.call, this, this.attempt, value))
    } catch (error) {
      this.reject(error)
    }
    this.slot?.leave()
  }

  /** Settles the call with the rest of it (its retries), once that is done. */
  private settleWithRest(rest: Promise<R>): void {
    const slot = this.slot
    if (slot === undefined) rest.then(this.resolve, this.reject)
    else rest.then(slot.leaveWith, slot.leaveWithError).then(this.resolve, this.reject)
  }

  private fail(error: unknown): void {
    if (this.settle()) this.settleWithRest(this.breaker.failed(this.call, this, this.context(), error))
  }

  /** The deadline passed (or the breaker was disposed). */
  expire(): void {
    if (this.settle()) this.settleWithRest(this.breaker.timedOut(this.call, this, this.context(), this.attempt))
  }

  /** The caller's signal aborted. */
  handleEvent(): void {
    if (!this.settle()) return
    const reason = this.call.signal!.reason
    const ctx = this.context()
    ctx.abort(reason)
    this.settleWithRest(this.breaker.failed(this.call, this, ctx, reason))
  }
}

/**
 * The wait before a retry: a node of the breaker's deadlines (so that disposal, which
 * expires them all, ends it, and no listener is added to the breaker's own signal per
 * waiting call), cut short by the caller's signal.
 */
export class RetryWait extends Deadlines.Deadline {
  constructor(
    private readonly list: Deadlines.Deadlines,
    private readonly signal: AbortSignal | undefined,
    private readonly disposal: AbortSignal,
    private readonly resolve: () => void,
    private readonly reject: (reason: unknown) => void
  ) {
    super()
  }

  start(at: number): void {
    if (this.signal?.aborted) {
      this.reject(this.signal.reason)
      return
    }
    this.at = at
    this.list.insert(this)
    this.signal?.addEventListener("abort", this, { once: true })
  }

  /** The delay passed, or the breaker was disposed. */
  expire(): void {
    this.signal?.removeEventListener("abort", this)
    if (this.disposal.aborted) this.reject(this.disposal.reason)
    else this.resolve()
  }

  /** The caller's signal aborted. */
  handleEvent(): void {
    this.list.remove(this)
    this.reject(this.signal!.reason)
  }
}

/** Hands the Promise constructor's functions to the attempt being settled: no closure per call. */
let nextPending: PendingAttempt<any> | undefined
const capture = (resolve: (value: any) => void, reject: (reason: unknown) => void): void => {
  nextPending!.bind(resolve, reject)
  nextPending = undefined
}

/** One call across its attempts. */
export interface Call {
  readonly args: ReadonlyArray<unknown>
  readonly signal: AbortSignal | undefined
  /** When the call began (or left the bulkhead's queue). */
  started: number
  /** When its current attempt began. */
  attemptStarted: number
  /** How its last attempt counted, once one ended. */
  last: CallPolicy.Outcome | undefined
  scheduleState: unknown
  /** The bulkhead slot the call holds, until an attempt takes charge of giving it back. */
  slot: Slot | undefined
}

/** A bulkhead slot, as a call gives it back. */
export interface Slot {
  leave(): void
  readonly leaveWith: <A>(value: A) => A
  readonly leaveWithError: (error: unknown) => never
}
