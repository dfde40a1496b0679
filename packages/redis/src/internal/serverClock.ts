/**
 * Redis time minus local time, kept steady so that a state read back is the state written,
 * whatever the local clock does (a test clock jumps at will). It is measured again only when
 * Redis's clock moves against the host's real clock by more than a second (a clock step,
 * another Redis host). Comparing with the local clock instead would take every jump of a
 * test clock for a clock step, and move every stored deadline by the jump.
 *
 * It only ever holds finite values: a reply whose time is not a number is ignored.
 */

/** A command's send time, on the breakers' clock and on the host's. */
export interface Sent {
  readonly local: number
  readonly host: number
}

const STEP = 1000

export class ServerClock {
  private offset: number | undefined = undefined
  private hostOffset: number | undefined = undefined

  constructor(
    /** The breakers' clock: the times in states are on it. */
    readonly localNow: () => number,
    /** The host's clock: the same as `localNow` in production, but real time under a test clock. */
    readonly hostNow: () => number
  ) {}

  sent(): Sent {
    return { local: this.localNow(), host: this.hostNow() }
  }

  /** Takes the server time of a reply to a command sent at `sent`. */
  observe(server: unknown, sent: Sent): void {
    if (typeof server !== "number" || !Number.isFinite(server)) return
    const host = Math.round(server - (sent.host + this.hostNow()) / 2)
    if (this.offset === undefined || this.hostOffset === undefined || Math.abs(host - this.hostOffset) > STEP) {
      const offset = Math.round(server - (sent.local + this.localNow()) / 2)
      if (!Number.isFinite(offset) || !Number.isFinite(host)) return
      this.offset = offset
      this.hostOffset = host
    }
  }

  get known(): boolean {
    return this.offset !== undefined
  }

  /** Redis time minus local time (0 until a reply was seen). */
  get delta(): number {
    return this.offset ?? 0
  }

  /** Redis's clock now, as estimated from the last offset. */
  serverNow(): number {
    return this.localNow() + this.delta
  }
}
