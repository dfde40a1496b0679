import type { CircuitBreakerState } from "@circuit-breaker/core"
import * as Effect from "effect/Effect"

export type CircuitState = CircuitBreakerState.CircuitState<unknown>
export type Transition = (state: CircuitState) => readonly [unknown, CircuitState]

/** The most transitions kept for a circuit while Redis cannot be reached; older ones are dropped. */
const MAX_PENDING = 1000

/**
 * How far back a reply or message that reached this process late may go: one older than
 * this is not taken for a stale one (Redis's clock may have stepped back across a restart).
 */
const STALE_WINDOW_MICROS = 60_000_000

/** Redis's `TIME` as `seconds.microseconds` (an incarnation, a read's time) in microseconds; `undefined` if not one. */
export const redisMicros = (time: string | undefined): number | undefined => {
  const match = time === undefined ? null : /^(\d{1,12})\.(\d{1,6})$/.exec(time)
  return match === null ? undefined : Number(match[1]) * 1_000_000 + Number(match[2])
}

const plainClosed = new Set(["_tag", "generation", "since", "tally"])

/**
 * Whether a local view must be written back over a key that lost it: a trip outlives Redis's
 * data, and so does any field beyond a plain Closed circuit's (an isolation, a forced mode).
 */
export const survivesLoss = (view: CircuitState): boolean =>
  view._tag !== "Closed" || Object.keys(view).some((key) => !plainClosed.has(key))

/**
 * One circuit as this process sees it: the last state read from Redis, and local
 * transitions not yet written. Kept small: a process may hold thousands.
 */
export class Cell {
  /** The stored version: -2 until Redis has been read, -1 while what it holds is corrupt, 0 when it holds nothing. */
  version = -2
  /** The stored incarnation ("" when there is no key). */
  incarnation = ""
  /** The last valid state read from Redis (local time); `undefined` when there is none. */
  remote: CircuitState | undefined = undefined
  view: CircuitState
  pending: Array<Transition> | undefined = undefined
  /** A write is running. */
  writing = false
  /** A write is waiting for the running one: a change that cannot wait for the next tick. */
  queued = false
  /** The latest version announced, or read, while a write ran: read again after it if it is newer. */
  missed: { readonly version: number; readonly incarnation: string } | undefined = undefined
  /** Counts this process's writes: a read issued before one of them is stale when it returns. */
  writes = 0
  /** Used since the background loop last looked; it then sets `lastUsed`. */
  used = true
  lastUsed = 0
  private semaphore: Effect.Semaphore | undefined = undefined

  constructor(
    readonly key: string,
    readonly name: string,
    readonly initial: CircuitState
  ) {
    this.view = initial
  }

  /** One write at a time per circuit: a trial's admission waits for a write in flight. */
  get lock(): Effect.Semaphore {
    return (this.semaphore ??= Effect.unsafeMakeSemaphore(1))
  }

  base(): CircuitState {
    return this.remote ?? this.initial
  }

  push(f: Transition): void {
    const pending = (this.pending ??= [])
    pending.push(f)
    if (pending.length > MAX_PENDING) pending.shift()
  }

  /** Takes the pending transitions, to write them. */
  take(): ReadonlyArray<Transition> {
    const batch = this.pending ?? []
    this.pending = undefined
    return batch
  }

  /** Puts back transitions that could not be written, before any made since. */
  putBack(batch: ReadonlyArray<Transition>): void {
    if (batch.length === 0) return
    this.pending = [...batch, ...(this.pending ?? [])].slice(-MAX_PENDING)
  }

  /**
   * Whether `version` of `incarnation` is older than what this cell holds: a read or message
   * overtaken by a newer one (replies and messages come on two connections). An incarnation
   * is the Redis time the key was made: one made before this cell's is older, and so is a
   * missing key read (`readAt`, Redis time) before this cell's was made.
   */
  isOlder(version: number, incarnation: string, readAt?: string): boolean {
    if (incarnation === this.incarnation) return version >= 0 && version < this.version
    const mine = redisMicros(this.incarnation)
    const theirs = redisMicros(incarnation === "" ? readAt : incarnation)
    return mine !== undefined && theirs !== undefined && theirs < mine && mine - theirs <= STALE_WINDOW_MICROS
  }

  /** Notes a version seen while a write ran (the newest, or one of another incarnation). */
  miss(version: number, incarnation: string): void {
    const missed = this.missed
    if (missed === undefined || missed.incarnation !== incarnation || version > missed.version) {
      this.missed = { version, incarnation }
    }
  }

  /** Whether a version seen while a write ran is newer than what the write left. */
  takeMissed(): boolean {
    const missed = this.missed
    this.missed = undefined
    return missed !== undefined && (missed.incarnation !== this.incarnation || missed.version > this.version)
  }

  /** Adopts what Redis holds. */
  adopt(version: number, incarnation: string, state: CircuitState | undefined): void {
    this.version = version
    this.incarnation = incarnation
    this.remote = state
    this.replay()
  }

  /** The local view: the stored state with the pending transitions applied. */
  replay(): void {
    let state = this.base()
    if (this.pending !== undefined) for (const f of this.pending) state = f(state)[1]
    this.view = state
  }
}
