import type { LiveCircuit, SeriesSource } from "../LiveCircuits.js"

class Entry {
  constructor(
    readonly ref: WeakRef<object>,
    readonly recorder: SeriesSource | undefined
  ) {}
}

const entries = new Set<Entry>()

/** Forgets a breaker once it has been collected: the registry never keeps one alive. */
const cleanup = new FinalizationRegistry<Entry>((entry) => {
  entries.delete(entry)
})

/** @internal */
export const register = (breaker: object, recorder: SeriesSource | undefined): void => {
  const entry = new Entry(new WeakRef(breaker), recorder)
  entries.add(entry)
  cleanup.register(breaker, entry)
}

/** @internal */
export const live = (): Array<LiveCircuit> => {
  const out: Array<LiveCircuit> = []
  for (const entry of entries) {
    const breaker = entry.ref.deref()
    if (breaker === undefined) entries.delete(entry)
    else out.push({ breaker, recorder: entry.recorder })
  }
  return out
}
