/**
 * What the soak's processes write, one JSON object a line, and the one clock they share.
 *
 * Every time is `monotonicNow()`: CLOCK_MONOTONIC (`process.hrtime`) in milliseconds, the same clock in every process of the
 * machine, so that moments logged by different processes can be compared.
 */
import { appendFileSync, readFileSync } from "node:fs"

/** Milliseconds on the machine-wide monotonic clock (CLOCK_MONOTONIC). */
export const monotonicNow = (): number => Number(process.hrtime.bigint()) / 1e6

export type Outcome = "ok" | "failed" | "open" | "timeout" | "defect"

/** One call through the breaker. */
export interface CallRecord {
  readonly k: "call"
  /** When the call began. */
  readonly t: number
  /** Milliseconds the call took beyond the service's own run: time spent in the breaker and on Redis. */
  readonly w: number
  readonly o: Outcome
}

/** A call run while the local view was Half-Open: a trial, from when the service began to when it ended. */
export interface TrialRecord {
  readonly k: "trial"
  readonly t: number
  readonly end: number
}

/** A change of the breaker's local state, when this process saw it. */
export interface StateRecord {
  readonly k: "state"
  readonly t: number
  readonly from: string
  readonly to: string
}

/** A stretch of `late` ms, ending at `t`, during which the process could not run (event-loop lag). */
export interface LagRecord {
  readonly k: "lag"
  readonly t: number
  readonly late: number
}

/** Heap used after a full collection. */
export interface HeapRecord {
  readonly k: "heap"
  readonly t: number
  readonly used: number
}

/** Something that must never happen: an uncaught exception, an unhandled rejection, a defect. */
export interface CrashRecord {
  readonly k: "crash"
  readonly t: number
  readonly what: string
}

/** The worker's last line, written when it stops as asked. */
export interface EndRecord {
  readonly k: "end"
  readonly t: number
}

export type WorkerRecord = CallRecord | TrialRecord | StateRecord | LagRecord | HeapRecord | CrashRecord | EndRecord

/** A fault the driver injected, and the processes it concerned (all, or the one behind the proxy). */
export interface FaultRecord {
  readonly name: string
  readonly start: number
  readonly end: number
  readonly detail: string
}

/** Appends records to a JSON-lines file, synchronously (so that a crash loses nothing written before it). */
export const makeWriter = (path: string) => {
  const pending: Array<string> = []
  const flush = () => {
    if (pending.length === 0) return
    appendFileSync(path, pending.join(""))
    pending.length = 0
  }
  return {
    write: (record: WorkerRecord) => {
      pending.push(`${JSON.stringify(record)}\n`)
      if (pending.length >= 256) flush()
    },
    flush
  }
}

export const readRecords = (path: string): Array<WorkerRecord> =>
  readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as WorkerRecord)
