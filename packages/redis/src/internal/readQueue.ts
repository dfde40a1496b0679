import * as Effect from "effect/Effect"
import type { Cell } from "./cell.js"

/** Background reads in flight at once. */
const READS_IN_FLIGHT = 32

/**
 * Cells to read soon (new, or after a reconnect, a loss of data or a missed change). Reads are
 * queued and run a few at a time, so that a thousand new circuits, or a reconnection, never send
 * a burst that would time out on its own weight.
 */
export class ReadQueue {
  private readonly toRead = new Set<Cell>()
  private reading = false

  constructor(
    private readonly refresh: (cell: Cell) => Effect.Effect<void, unknown>,
    private readonly fork: (effect: Effect.Effect<void, unknown>) => void
  ) {}

  schedule(cell: Cell): void {
    this.toRead.add(cell)
    if (this.reading) return
    this.reading = true
    const drain: Effect.Effect<void> = Effect.suspend(() => {
      const batch = Array.from(this.toRead)
      this.toRead.clear()
      if (batch.length === 0) {
        this.reading = false
        return Effect.void
      }
      return Effect.zipRight(
        Effect.forEach(batch, (next) => Effect.ignore(this.refresh(next)), {
          concurrency: READS_IN_FLIGHT,
          discard: true
        }),
        drain
      )
    })
    this.fork(drain)
  }
}
