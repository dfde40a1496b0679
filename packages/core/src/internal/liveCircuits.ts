import type { LiveCircuit, SeriesSource } from "../LiveCircuits.js"

/**
 * Where a registered breaker keeps its recorder. On the breaker itself, so that the list holds
 * nothing but a WeakRef per breaker: an entry object or a FinalizationRegistry cell would add
 * more to every idle breaker than the breaker's own state.
 */
const recorderKey: unique symbol = Symbol.for("@circuit-breaker/core/LiveCircuits/recorder")

type Registered = { [recorderKey]?: SeriesSource | undefined }

let refs: Array<WeakRef<object>> = []
/** The length at which the list is next cleared of collected breakers (it then holds at most twice the live ones). */
let sweepAt = 1024

const sweep = (): void => {
  refs = refs.filter((ref) => ref.deref() !== undefined)
  sweepAt = Math.max(1024, refs.length * 2)
}

/** @internal */
export const register = (breaker: object, recorder: SeriesSource | undefined): void => {
  ;(breaker as Registered)[recorderKey] = recorder
  refs.push(new WeakRef(breaker))
  if (refs.length >= sweepAt) sweep()
}

/** @internal */
export const live = (): Array<LiveCircuit> => {
  const out: Array<LiveCircuit> = []
  const kept: Array<WeakRef<object>> = []
  for (const ref of refs) {
    const breaker = ref.deref()
    if (breaker === undefined) continue
    kept.push(ref)
    out.push({ breaker, recorder: (breaker as Registered)[recorderKey] })
  }
  refs = kept
  return out
}
