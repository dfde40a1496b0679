/**
 * Per-circuit synchronisation: reading a circuit, writing its pending transitions with
 * compare-and-set, adopting announced changes, and repairing what is corrupt or lost.
 */
import { CircuitStoreError } from "@circuit-breaker/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import { Cell, type CircuitState, survivesLoss, type Transition } from "./cell.js"
import { ChangeLog } from "./changes.js"
import * as codec from "./codec.js"
import type { Connection } from "./connection.js"
import { ReadQueue } from "./readQueue.js"
import type { ServerClock } from "./serverClock.js"

const MAX_CAS_ATTEMPTS = 16
/** A corrupt key is reported at most once in this many milliseconds. */
const REPORT_EVERY = 60_000

/** `{` and `}` end a Redis Cluster hash tag early, and `%` is the escape: no name reaches another circuit's keys. */
export const escapeName = (name: string): string =>
  name.replace(/%/g, "%25").replace(/\{/g, "%7B").replace(/\}/g, "%7D")

export interface SyncConfig {
  readonly prefix: string
  readonly channel: string
  readonly idleTtl: number
  readonly maxOpenPeriod: number
  readonly instanceId: string
  /** How long after the sync read a node's change count its announcement may still arrive (ms; default 250). */
  readonly announcementGrace?: number
}

/** A circuit as read from Redis; `problem` says what is corrupt (then `state` is `undefined`). */
export interface Stored {
  readonly version: number
  readonly incarnation: string
  readonly state: CircuitState | undefined
  readonly problem: string | undefined
  readonly updatedAt: number | null
  readonly updatedBy: string | null
  /** When it was read (Redis time, `seconds.microseconds`): a missing key read before the cell's was made is stale. */
  readonly readAt?: string | undefined
}

export class CircuitSync {
  readonly cells = new Map<string, Cell>()
  /** Cells with counts to write at the next tick. */
  readonly dirty = new Set<Cell>()
  /** When each corrupt key was last reported. */
  readonly reported = new Map<string, number>()
  /** Cells to read (new, or after a reconnect or a loss of data), a few at a time. */
  private readonly reads: ReadQueue
  /** Lost announcements: every circuit in use is read again. */
  readonly changes: ChangeLog

  constructor(
    readonly connection: Connection,
    readonly clock: ServerClock,
    readonly config: SyncConfig,
    /** Runs an effect in the background (logs annotated with the store). */
    readonly fork: (effect: Effect.Effect<void, unknown>) => void
  ) {
    this.reads = new ReadQueue((cell) => this.refresh(cell), fork)
    this.changes = new ChangeLog(
      () => connection.client,
      config.prefix,
      config.announcementGrace ?? 250,
      () => this.refreshAll()
    )
  }

  keyOf(name: string): string {
    return `${this.config.prefix}{${escapeName(name)}}:s`
  }

  cellOf(name: string, initial: CircuitState): Cell {
    let cell = this.cells.get(name)
    if (cell === undefined) {
      cell = new Cell(this.keyOf(name), name, initial)
      this.cells.set(name, cell)
      this.scheduleRead(cell)
    }
    // A flag, not a clock read (on the call path, twice a call): the background loop dates it.
    cell.used = true
    return cell
  }

  private decodeState(json: string | null, initial: CircuitState | undefined) {
    if (json === null) return Either.right(undefined)
    const bounds = { now: this.clock.serverNow(), maxOpenPeriod: this.config.maxOpenPeriod, initial }
    return Either.map(codec.decode(json, bounds), (state) => codec.shiftTimes(state, -this.clock.delta))
  }

  /** Reads a circuit (its state in local time), updating the clock offset. */
  read(key: string, initial: CircuitState | undefined): Effect.Effect<Stored, CircuitStoreError> {
    return Effect.map(
      this.connection.run("read", () => {
        const sent = this.clock.sent()
        return this.connection.client.circuitBreakerRead(key).then((reply) => {
          this.clock.observe(reply[5], sent)
          return reply
        })
      }),
      ([version, incarnation, json, at, by, , readAt]) => {
        const state = this.decodeState(json, initial)
        const corruptVersion = codec.decodeVersion(version) === undefined
        return {
          version: corruptVersion ? -1 : version,
          incarnation: incarnation ?? "",
          state: Either.getOrUndefined(state),
          problem: corruptVersion ? `version ${version} is not a count` : Either.isLeft(state) ? state.left : undefined,
          updatedAt: at === null ? null : Number(at),
          updatedBy: by,
          readAt
        }
      }
    )
  }

  /** Logs a corrupt key at most once a minute; the next write replaces it. */
  reportCorrupt(cell: Cell, problem: string): void {
    const now = Date.now()
    const last = this.reported.get(cell.key)
    if (last !== undefined && now - last < REPORT_EVERY) return
    this.reported.set(cell.key, now)
    this.fork(
      Effect.logWarning(
        `circuit "${cell.name}": Redis holds a corrupt state (${problem}); the local view will be written over it`
      ).pipe(Effect.annotateLogs({ circuit: cell.name }))
    )
  }

  /**
   * Takes what Redis holds. A key this process knew that is now missing, or was made again
   * since (its data lost) and holds a Closed circuit, does not undo a trip: an Open view is
   * written back.
   */
  receive(cell: Cell, stored: Omit<Stored, "updatedAt" | "updatedBy">): void {
    if (cell.isOlder(stored.version, stored.incarnation, stored.readAt)) return
    if (stored.problem !== undefined) {
      this.reportCorrupt(cell, stored.problem)
      cell.version = stored.version
      cell.incarnation = stored.incarnation
      cell.replay()
      return
    }
    // The key this process knew is gone, or was made again since (a first read finds no loss).
    const lost = cell.incarnation !== "" && stored.incarnation !== cell.incarnation
    const view = cell.view
    if (lost && (stored.state === undefined || stored.state._tag === "Closed") && survivesLoss(view)) {
      cell.version = stored.version
      cell.incarnation = stored.incarnation
      cell.remote = stored.state
      // The view already holds what is pending: it alone is written back.
      cell.pending = [() => [undefined, view]]
      cell.replay()
      this.writeSoon(cell)
      return
    }
    cell.adopt(stored.version, stored.incarnation, stored.state)
    this.writeIfUrgent(cell)
  }

  /**
   * Writes at once what the pending transitions, replayed on a state that came from Redis, change
   * urgently: this process's unwritten counts added to the others' may trip the circuit.
   */
  private writeIfUrgent(cell: Cell): void {
    if (cell.pending !== undefined && codec.isUrgent(cell.base(), cell.view)) this.writeSoon(cell)
  }

  /** Adopts what Redis holds for a cell (unless a write of this process ran meanwhile). */
  refresh(cell: Cell): Effect.Effect<void, CircuitStoreError> {
    return Effect.suspend(() => {
      const writes = cell.writes
      return Effect.map(this.read(cell.key, cell.initial), (stored) => {
        if (cell.writing || cell.queued || cell.writes !== writes) {
          cell.miss(stored.version, stored.incarnation)
          return
        }
        this.receive(cell, stored)
      })
    })
  }

  /** A change announced on the channel: adopted at once, with no read. */
  announced(message: string): void {
    const announcement = codec.parseAnnouncement(message)
    if (announcement === undefined) return
    if (announcement.count !== undefined) this.changes.announced(announcement.count.key, announcement.count.value)
    const cell = this.cells.get(announcement.name)
    if (cell === undefined) return
    if (cell.writing || cell.queued) {
      // The write's own reply tells what is stored, unless this change came after it.
      if (!this.adoptWhileWriting(cell, announcement)) cell.miss(announcement.version, announcement.incarnation)
      return
    }
    if (announcement.incarnation === cell.incarnation && announcement.version <= cell.version) return
    if (!this.clock.known) {
      this.scheduleRead(cell)
      return
    }
    const state = this.decodeState(announcement.json, cell.initial)
    this.receive(cell, {
      version: announcement.version,
      incarnation: announcement.incarnation,
      state: Either.getOrUndefined(state),
      problem: Either.isLeft(state) ? state.left : undefined
    })
  }

  /**
   * A change of state (a trip, a reset) announced while this process writes is adopted at once,
   * not after the write: the write's reply, older, does not undo it (see `attempt`).
   */
  private adoptWhileWriting(cell: Cell, announcement: codec.Announcement): boolean {
    if (announcement.incarnation !== cell.incarnation || announcement.version <= cell.version) return false
    if (!this.clock.known) return false
    const state = Either.getOrUndefined(this.decodeState(announcement.json, cell.initial))
    if (state === undefined || !codec.isUrgent(cell.base(), state)) return false
    cell.adopt(announcement.version, announcement.incarnation, state)
    return true
  }

  /** The store's primitive: a compare-and-set on a version, whatever the incarnation. */
  compareAndSetVersion(name: string, expected: number, next: CircuitState): Effect.Effect<boolean, CircuitStoreError> {
    return Effect.suspend(() => {
      const probe = new Cell(this.keyOf(name), name, next)
      probe.version = expected
      probe.incarnation = "*"
      return Effect.map(this.compareAndSet(probe, next), ([won, version, incarnation, json]) => {
        const cell = this.cells.get(name)
        if (cell !== undefined && !cell.writing && !cell.queued) {
          const state = won === 1 ? Either.right(next) : this.decodeState(json, cell.initial)
          this.receive(cell, {
            version: codec.decodeVersion(version) ?? -1,
            incarnation: incarnation ?? "",
            state: Either.getOrUndefined(state),
            problem: Either.isLeft(state) ? state.left : undefined
          })
        }
        return won === 1
      })
    })
  }

  private compareAndSet(cell: Cell, next: CircuitState) {
    // The clock offset must be known before a state is written in Redis time.
    const offsetKnown = this.clock.known ? Effect.void : Effect.asVoid(this.read(cell.key, undefined))
    const cas = this.connection.run("compareAndSet", () => {
      const sent = this.clock.sent()
      const idleTtl = this.config.idleTtl
      // An Open circuit's key outlives its retryAt; an isolated one's never expires.
      const ttl =
        next._tag !== "Open"
          ? idleTtl
          : (next.isolated ?? 0) > 0
            ? 0
            : Math.max(idleTtl, next.retryAt - sent.local + idleTtl)
      return this.connection.client
        .circuitBreakerCompareAndSet(
          cell.key,
          cell.version,
          cell.incarnation,
          codec.encode(codec.shiftTimes(next, this.clock.delta)),
          this.config.instanceId,
          Math.ceil(ttl),
          this.config.channel,
          cell.name,
          this.changes.countKeyFor(escapeName(cell.name))
        )
        .then((reply) => {
          this.clock.observe(reply[4], sent)
          return reply
        })
    })
    return Effect.zipRight(offsetKnown, cas)
  }

  /** One compare-and-set of `batch` (then `extra`) replayed on the stored state; again on a lost race. */
  private attempt<A>(
    cell: Cell,
    batch: ReadonlyArray<Transition>,
    extra: ((state: CircuitState) => readonly [A, CircuitState]) | undefined,
    n: number
  ): Effect.Effect<A | undefined, CircuitStoreError> {
    const base = cell.base()
    let next = base
    for (const f of batch) next = f(next)[1]
    let result: A | undefined
    if (extra !== undefined) [result, next] = extra(next)
    if (next === base) return Effect.succeed(result)
    return Effect.flatMap(this.compareAndSet(cell, next), ([won, version, incarnation, json]) => {
      cell.writes++
      const storedVersion = codec.decodeVersion(version) ?? -1
      // A change announced meanwhile, newer than this reply, was adopted already: it stays.
      const overtaken = cell.isOlder(storedVersion, incarnation ?? "")
      if (won === 1) {
        if (!overtaken) {
          cell.version = version
          cell.incarnation = incarnation ?? ""
          cell.remote = next
        }
        return Effect.succeed(result)
      }
      const state = this.decodeState(json, cell.initial)
      if (Either.isLeft(state)) this.reportCorrupt(cell, state.left)
      if (!overtaken) {
        cell.version = storedVersion
        cell.incarnation = incarnation ?? ""
        if (Either.isRight(state)) cell.remote = state.right
      }
      if (n >= MAX_CAS_ATTEMPTS) {
        return Effect.fail(
          new CircuitStoreError({ reason: "Conflict", detail: `"${cell.name}" kept changing; gave up` })
        )
      }
      return Effect.suspend(() => this.attempt(cell, batch, extra, n + 1))
    })
  }

  /**
   * Writes a cell's pending transitions: replays them on the stored state and
   * compare-and-sets the result, re-reading and replaying when another process wrote first.
   * `extra`, when given, runs last, and its result is returned (the authoritative path,
   * whose caller's budget covers the wait for the lock). A background write has the whole
   * store timeout once it holds the lock.
   */
  write<A>(
    cell: Cell,
    extra: ((state: CircuitState) => readonly [A, CircuitState]) | undefined
  ): Effect.Effect<A | undefined, CircuitStoreError> {
    const body = Effect.suspend(() => {
      cell.queued = false
      cell.writing = true
      this.dirty.delete(cell)
      const batch = cell.take()
      const ready =
        cell.version < -1
          ? Effect.flatMap(this.read(cell.key, cell.initial), (stored) => Effect.sync(() => this.receive(cell, stored)))
          : Effect.void
      return Effect.zipRight(
        ready,
        Effect.suspend(() => this.attempt(cell, batch, extra, 1))
      ).pipe(
        Effect.tapError(() =>
          Effect.sync(() => {
            // Kept for the next tick (bounded while Redis is away).
            cell.putBack(batch)
            if (cell.pending !== undefined) this.dirty.add(cell)
          })
        ),
        Effect.onExit((exit) =>
          Effect.sync(() => {
            cell.writing = false
            cell.replay()
            // Only after a write that went through: a failed one waits for the next tick, not a tight loop.
            if (Exit.isSuccess(exit)) this.writeIfUrgent(cell)
            // A queued write takes what was missed over: it may find nothing to write, and then read.
            if (!cell.queued && cell.takeMissed()) this.scheduleRead(cell)
          })
        )
      )
    })
    return cell.lock.withPermits(1)(extra === undefined ? this.connection.withinBudget(body) : body)
  }

  /**
   * Writes a change at once: queued behind a write in flight (whose batch it missed), never
   * left for the next tick. Each write has the whole store timeout once it runs.
   */
  writeSoon(cell: Cell): void {
    if (cell.queued) return
    cell.queued = true
    this.fork(this.write(cell, undefined))
  }

  /** Writes the counts of every cell that has some; a cell being written waits for the next tick. */
  flushDirty(): Effect.Effect<void> {
    return Effect.forEach(
      Array.from(this.dirty),
      (cell) => (cell.writing || cell.queued ? Effect.void : Effect.ignore(this.write(cell, undefined))),
      { discard: true, concurrency: "unbounded" }
    )
  }

  /** Reads a cell soon (a few at a time). */
  scheduleRead(cell: Cell): void {
    this.reads.schedule(cell)
  }

  /** Reads every circuit in use again (after a reconnect, or a node that lost its data). */
  refreshAll(): void {
    for (const cell of this.cells.values()) this.scheduleRead(cell)
  }
}
