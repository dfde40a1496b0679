/**
 * What the scale run's parent and workers say to each other over IPC (besides `"ready"` and `"stop"`).
 */

/** Where the circuits live: one server by URL, or a cluster by its masters' ports on 127.0.0.1. */
export type Target =
  | { readonly kind: "single"; readonly url: string }
  | { readonly kind: "cluster"; readonly nodes: ReadonlyArray<number> }

export type Api = "promise" | "effect"

export interface WorkerSettings {
  readonly api: Api
  readonly target: Target
  readonly circuits: number
}

export type ToWorker = { readonly _tag: "trip"; readonly circuit: number } | { readonly _tag: "memory" }

export type FromWorker =
  /** The worker saw `circuit` open, at `at` on the machine-wide monotonic clock. */
  | { readonly _tag: "opened"; readonly circuit: string; readonly at: number }
  | { readonly _tag: "memory"; readonly rss: number; readonly heapUsed: number }
