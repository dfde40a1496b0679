/**
 * On a Redis Cluster, a subscriber of the change channel on every master, beside the one
 * ioredis keeps on a node it picks.
 *
 * A message published on one master reaches the subscribers of the others over the cluster
 * bus, whose outgoing connections do not set TCP_NODELAY (Redis 7.0; valkey-io/valkey#1758):
 * a message that follows another on the same link before its ACK waits for the delayed ACK,
 * tens of milliseconds. A change is announced by the master that holds its circuit, so a
 * subscriber there hears it at once. The copies that come later (over the bus, or through
 * ioredis's subscriber, which stays as a second path) are older than what was adopted, and
 * dropped as such.
 */
import type { Cluster, Redis, RedisOptions } from "ioredis"
import * as slots from "./slots.js"

export class MasterSubscribers {
  private readonly byNode = new Map<string, Redis>()
  private closed = false

  constructor(
    private readonly cluster: Cluster,
    private readonly channel: string,
    /** The subscribers' connection options (the store's hardened ones, with an offline queue). */
    private readonly options: RedisOptions,
    /** Guards each subscriber's sockets (errors handled, never holding the process open). */
    private readonly guard: (subscriber: Redis) => void,
    private readonly onMessage: (message: string) => void
  ) {}

  /** Opens a subscriber on each master that has none, and closes those of the masters gone. */
  reconcile(): void {
    if (this.closed || this.cluster.status !== "ready") return
    const masters = new Map(this.cluster.nodes("master").map((node) => [slots.nodeId(node), node] as const))
    if (masters.size === 0) return
    for (const [id, node] of masters) if (!this.byNode.has(id)) this.byNode.set(id, this.open(node))
    for (const [id, subscriber] of this.byNode) {
      if (masters.has(id)) continue
      this.byNode.delete(id)
      subscriber.disconnect()
    }
  }

  /** A connection like the master's own (address, credentials, TLS), subscribed to the channel. */
  private open(node: Redis): Redis {
    const subscriber = node.duplicate({ ...this.options, lazyConnect: false })
    this.guard(subscriber)
    // ioredis reconnects and subscribes again; meanwhile ioredis's own subscriber and the reads cover.
    subscriber.on("error", () => {})
    subscriber.on("message", (_channel: string, message: string) => this.onMessage(message))
    subscriber.subscribe(this.channel).catch(() => {})
    return subscriber
  }

  /** Closes every subscriber with `quit` (which bounds the wait). */
  close(quit: (subscriber: Redis) => Promise<void>): Promise<void> {
    this.closed = true
    const closing = Array.from(this.byNode.values(), quit)
    this.byNode.clear()
    return Promise.all(closing).then(() => undefined)
  }
}
