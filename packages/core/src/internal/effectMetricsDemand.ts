import type { TaggedMetrics } from "./taggedMetrics.js"

/** Makes the Effect metrics of a circuit (`taggedMetrics.ts`). */
export type TaggedMetricsOf = (circuit: string) => TaggedMetrics

/**
 * Where `effect/GlobalValue` keeps Effect's process-wide values, and the key of the global
 * metric registry there (`Metric.globalMetricRegistry`). Effect details: a test checks both.
 */
const GLOBAL_STORE = "effect/GlobalValue"
const METRIC_REGISTRY = Symbol.for("effect/Metric/globalMetricRegistry")

/** What `effectMetricsInUse` saw: asked on every call of a Promise breaker, it looks again only when something was added. */
let globalStore: Map<unknown, unknown> | undefined
let sizeChecked = -1
let registryFound = false

/**
 * Whether anything in the process uses Effect metrics: an exporter, `Metric.snapshot` or the
 * Effect API all load `effect/Metric`, which makes the global registry. Until then nothing can
 * read a breaker's Effect metrics, and the Promise API does not load Effect's metric modules.
 *
 * @internal
 */
export const effectMetricsInUse = (): boolean => {
  if (registryFound) return true
  // `globalValue` adds to the store and has no way to remove: while its size is unchanged, so is the answer.
  globalStore ??= (globalThis as { [GLOBAL_STORE]?: Map<unknown, unknown> })[GLOBAL_STORE]
  if (globalStore === undefined || globalStore.size === sizeChecked) return false
  sizeChecked = globalStore.size
  registryFound = globalStore.has(METRIC_REGISTRY)
  return registryFound
}

let loaded: TaggedMetricsOf | undefined
let loading: Promise<void> | undefined

/** The maker of Effect metrics, once `loadTaggedMetrics` has loaded it. @internal */
export const loadedTaggedMetrics = (): TaggedMetricsOf | undefined => loaded

/**
 * Starts loading `taggedMetrics.ts`, once (later calls do nothing), and calls `then` when it
 * is loaded. A failed load leaves the Effect metrics unattached, as before the demand; the
 * plain counters go on.
 *
 * @internal
 */
export const loadTaggedMetrics = (then: (metricsOf: TaggedMetricsOf) => void): void => {
  if (loading !== undefined) return
  loading = import("./taggedMetrics.js").then((module) => {
    loaded = module.taggedMetrics
    then(loaded)
  })
  loading.catch(() => undefined)
}
