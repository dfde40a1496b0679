/**
 * What the scale run's parent and workers say to each other over IPC (besides `"ready"` and `"stop"`).
 */

/** Where the circuits live: one server by URL, or a cluster by its masters' ports on 127.0.0.1. */
export type Target =
  | { readonly kind: "single"; readonly url: string }
  | { readonly kind: "cluster"; readonly nodes: ReadonlyArray<number> }

export type Api = "promise" | "effect"

/** The store's change channel, under the default prefix. */
export const CHANNEL = "cb:v1:events"

/** The floor's channel: a plain PUBLISH of a circuit's name, with no store on either side. */
export const FLOOR_CHANNEL = "scale:floor"

export interface WorkerSettings {
  readonly api: Api
  readonly target: Target
  readonly circuits: number
}

export type ToWorker =
  /** Read `circuit`'s state on a tight loop, and say when it first reads open (or that it never did). */
  | { readonly _tag: "watch"; readonly circuit: number }
  | { readonly _tag: "trip"; readonly circuit: number }
  /** Publish `circuit`'s name on the floor channel from a plain connection, and say when. */
  | { readonly _tag: "floor"; readonly circuit: number }
  | { readonly _tag: "memory" }
  /** Start measuring event-loop delay afresh (reported with the memory). */
  | { readonly _tag: "measureDelay" }

/** Times are on the machine-wide monotonic clock (`monotonicNow`). */
export type FromWorker =
  /** The worker has read `circuit` closed once and is now watching it. */
  | { readonly _tag: "watching"; readonly circuit: string }
  /** The tripping worker: `circuit` was tripped at `at`. */
  | { readonly _tag: "tripped"; readonly circuit: string; readonly at: number }
  /** The tripping worker published `circuit` on the floor channel at `at`. */
  | { readonly _tag: "floorSent"; readonly circuit: string; readonly at: number }
  /** A watching worker: at `at` it first read `circuit` open, so a call then would have been rejected. */
  | {
      readonly _tag: "opened"
      readonly circuit: string
      readonly at: number
      /** When the trip's announcement reached this process, on a plain subscriber of its own beside the store's. */
      readonly heard: number | undefined
      /** When the floor's message for this circuit reached that same subscriber. */
      readonly floorHeard: number | undefined
    }
  /** A watching worker never read `circuit` open within its bound. */
  | { readonly _tag: "unseen"; readonly circuit: string }
  | {
      readonly _tag: "memory"
      readonly rss: number
      readonly heapUsed: number
      /** Event-loop delay since `measureDelay` (perf_hooks.monitorEventLoopDelay, 1 ms resolution), in ms. */
      readonly loopDelay: LoopDelay
    }

export interface LoopDelay {
  readonly p50: number
  readonly p99: number
  readonly max: number
}
