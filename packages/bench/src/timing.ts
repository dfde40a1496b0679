/**
 * The timing of one contender: n sequential calls after a full GC, and the n that takes a
 * round's time. No Effect import: the policies rows run in a process that loads only the
 * Promise API and the peers (policies.ts).
 */

const gc = (): void => (globalThis as { gc?: () => void }).gc!()

/** What is timed: `prepare(n)` returns the run of n calls. */
export interface Timed {
  readonly prepare: (n: number) => () => Promise<unknown>
}

/** Nanoseconds per call for n calls, after a full GC. */
export const measure = async (contender: Timed, n: number): Promise<number> => {
  const run = contender.prepare(n)
  gc()
  const start = process.hrtime.bigint()
  await run()
  const end = process.hrtime.bigint()
  return Number(end - start) / n
}

/**
 * The n that takes about `targetMs`, found after warming the contender up. The per-call
 * time depends on n: what the full GC before a measurement costs the calls right after it
 * is spread over fewer calls when n is small. So n is refined at n itself until a
 * measurement lands within 15% of `targetMs` (extrapolating from a quarter of the target
 * left the slowest Effect rows at 80 ms rounds in run 8).
 */
export const calibrate = async (contender: Timed, targetMs: number): Promise<number> => {
  let n = 256
  for (;;) {
    const ms = ((await measure(contender, n)) * n) / 1e6
    if (ms >= targetMs / 4) break
    n *= ms < targetMs / 40 ? 8 : 2
  }
  for (let refinement = 0; refinement < 6; refinement++) {
    const ms = ((await measure(contender, n)) * n) / 1e6
    if (Math.abs(ms - targetMs) <= targetMs * 0.15) break
    n = Math.max(16, Math.round((n * targetMs) / ms))
  }
  return n
}
