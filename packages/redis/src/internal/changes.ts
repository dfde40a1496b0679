/**
 * The safety net under the channel. Every state write bumps a change count on its Redis
 * node and announces the new count with the state. A process that never writes still
 * learns of a lost announcement (a subscriber that lost a message without reconnecting, a
 * cluster bus link that dropped one) within about one sync interval:
 *
 * - a gap in the counts announced by one node means a message in between was lost;
 * - a count read by the periodic sync that no announcement brought soon after means the
 *   last ones were.
 *
 * Either way every circuit in use is read again. The counts cost no command of their own:
 * the write's script bumps them and the sync's script, which reads each node's marker
 * anyway, reads them.
 */
import { Cluster } from "ioredis"
import type { Client } from "./connection.js"
import * as slots from "./slots.js"

/** One Redis node's keys: its marker (a loss of its data) and its change count. */
export interface NodeKeys {
  readonly marker: string
  readonly changes: string
}

const keysOf = (prefix: string, tag: string | undefined): NodeKeys =>
  tag === undefined
    ? { marker: `${prefix}marker`, changes: `${prefix}changes` }
    : { marker: `${prefix}marker{${tag}}`, changes: `${prefix}changes{${tag}}` }

export class ChangeLog {
  /** The last count announced by each node (by its change-count key). */
  private readonly received = new Map<string, number>()
  /** A count read by the sync, and when an announcement must have brought it by. */
  private readonly expected = new Map<string, { readonly count: number; readonly due: number }>()
  /** Each master's hash tag: one of the slots it serves. */
  private readonly tags = new Map<string, string>()

  constructor(
    private readonly client: () => Client,
    private readonly prefix: string,
    /** How long after the sync read a count its announcement may still arrive, in ms. */
    private readonly grace: number,
    private readonly onLoss: () => void
  ) {}

  /** A tag whose slot the master `id` serves (found once, checked on every use). */
  private tagOf(cluster: Cluster, id: string): string | undefined {
    const known = this.tags.get(id)
    if (known !== undefined && cluster.slots[slots.slotOfTag(known)]?.[0] === id) return known
    for (let n = 0; n < 4096; n++) {
      if (cluster.slots[slots.slotOfTag(String(n))]?.[0] === id) {
        this.tags.set(id, String(n))
        return String(n)
      }
    }
    return undefined
  }

  /** The keys of every node to sync. */
  nodes(): ReadonlyArray<NodeKeys> {
    const client = this.client()
    if (!(client instanceof Cluster)) return [keysOf(this.prefix, undefined)]
    return client.nodes("master").flatMap((node) => {
      const tag = this.tagOf(client, slots.nodeId(node))
      return tag === undefined ? [] : [keysOf(this.prefix, tag)]
    })
  }

  /** The change count a write of the circuit whose hash tag is `circuitTag` bumps ("" when unknown: none). */
  countKeyFor(circuitTag: string): string {
    const client = this.client()
    if (!(client instanceof Cluster)) return keysOf(this.prefix, undefined).changes
    const id = client.slots[slots.slotOfTag(circuitTag)]?.[0]
    const tag = id === undefined ? undefined : this.tagOf(client, id)
    return tag === undefined ? "" : keysOf(this.prefix, tag).changes
  }

  /**
   * A count announced with a change. One not newer than the last is a copy that came by a
   * slower path (a Cluster's subscribers hear each message on every master): not a loss, and
   * not a new starting point either (a node that lost its data is told by its marker).
   */
  announced(key: string, count: number): void {
    const last = this.received.get(key)
    if (last !== undefined && count <= last) return
    this.received.set(key, count)
    if (last !== undefined && count > last + 1) this.onLoss()
  }

  /** A count read by the sync at `now` (ms). */
  read(key: string, count: number, now: number): void {
    const last = this.received.get(key)
    // Nothing announced yet, or the node lost its data (the marker tells): a new starting point.
    if (last === undefined || count < last) {
      this.received.set(key, count)
      this.expected.delete(key)
    } else if (count > last && !this.expected.has(key)) {
      this.expected.set(key, { count, due: now + this.grace })
    }
  }

  /** Counts read that no announcement brought within the grace: lost. */
  check(now: number): void {
    let lost = false
    for (const [key, { count, due }] of this.expected) {
      const last = this.received.get(key) ?? 0
      if (last >= count) this.expected.delete(key)
      else if (now >= due) {
        this.expected.delete(key)
        this.received.set(key, count)
        lost = true
      }
    }
    if (lost) this.onLoss()
  }

  /** Starts again (a new subscription: every circuit is read again anyway). */
  reset(): void {
    this.received.clear()
    this.expected.clear()
  }
}
