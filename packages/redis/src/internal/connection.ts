/**
 * The connections (a command client and a subscriber) and whether Redis answers.
 *
 * Only a trouble of the connection makes Redis "unreachable": a closed or unwritable
 * socket, or a command that got no answer within the whole store timeout. An error about one
 * key (WRONGTYPE, MOVED, a script error) is that key's, and a read-modify-write that ran out
 * of its own budget says nothing about Redis: neither changes the health.
 */
import { CircuitStoreError } from "@circuit-breaker/core"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { Cluster, type ClusterNode, type ClusterOptions, Redis, type RedisOptions } from "ioredis"
import { MasterSubscribers } from "./masterSubscribers.js"
import * as scripts from "./scripts.js"

/** A client the store can use: a single Redis (or Sentinel) connection, or a Cluster. */
export type Client = Redis | Cluster

/** The client with the store's scripts defined on it. */
export interface CommandClient {
  circuitBreakerRead(
    key: string
  ): Promise<[number, string | null, string | null, string | null, string | null, number, string]>
  circuitBreakerCompareAndSet(
    key: string,
    expected: number,
    incarnation: string,
    state: string,
    instance: string,
    ttl: number,
    channel: string,
    name: string,
    countKey: string
  ): Promise<[number, number, string | null, string | null, number]>
  circuitBreakerSync(marker: string, countKey: string): Promise<[string, number, number]>
}

/** Where to connect, as the store options say it. */
export interface Target {
  readonly url?: string | undefined
  readonly redis?: RedisOptions | undefined
  readonly cluster?: { readonly nodes: ReadonlyArray<ClusterNode>; readonly options?: ClusterOptions } | undefined
}

/** Redacts credentials from anything that may hold a Redis URL or password. */
export const redact = (text: string): string =>
  text.replace(/(rediss?:\/\/)([^@/\s]*)@/gi, "$1***@").replace(/(password["'\s:=]+)([^"'\s,}]+)/gi, "$1***")

/**
 * How far beyond the store timeout ioredis's own command timeout lies: the store's bound
 * (`deadline`) decides, and it takes a reply that arrived while the process could not run;
 * ioredis's, whose timer would fire before that reply is read, only backs it.
 */
const COMMAND_TIMEOUT_SLACK = 1000

/** The settings that keep a caller from waiting on Redis: a command fails at once when it cannot be sent. */
export const hardenedOptions = (storeTimeout: number): RedisOptions => ({
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  commandTimeout: storeTimeout + COMMAND_TIMEOUT_SLACK,
  connectTimeout: Math.max(storeTimeout, 1000),
  retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
  enableAutoPipelining: false
})

const openClient = (target: Target, storeTimeout: number): Client => {
  const hardened = hardenedOptions(storeTimeout)
  if (target.cluster !== undefined) {
    const { enableOfflineQueue: _, ...perNode } = hardened
    return new Cluster([...target.cluster.nodes], {
      ...target.cluster.options,
      // In a Cluster the offline queue is a top-level option: redisOptions ignores it.
      enableOfflineQueue: false,
      scaleReads: "master",
      clusterRetryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
      redisOptions: { ...target.cluster.options?.redisOptions, ...perNode }
    })
  }
  return target.url !== undefined
    ? new Redis(target.url, { ...target.redis, ...hardened })
    : new Redis({ ...target.redis, ...hardened })
}

/**
 * A subscriber's options: the hardened ones with an offline queue, and no command timeout (the
 * one a duplicated client would inherit is cleared).
 */
const subscriberOptions = (storeTimeout: number): RedisOptions => ({
  ...hardenedOptions(storeTimeout),
  enableOfflineQueue: true,
  commandTimeout: undefined
})

/** The subscriber subscribes once it is ready (see the store), and is never asked anything else. */
const openSubscriber = (client: Client, storeTimeout: number): Client => {
  const options = subscriberOptions(storeTimeout)
  return client instanceof Cluster
    ? // In a Cluster the offline queue is a top-level option.
      client.duplicate(undefined, { enableOfflineQueue: true, redisOptions: { ...options, enableOfflineQueue: false } })
    : client.duplicate(options)
}

const ignore = () => {}
const guardedSockets = new WeakSet<object>()
const guardedConnectors = new WeakSet<object>()

const keepListening = (socket: any): void => {
  if (socket === undefined || socket === null || guardedSockets.has(socket)) return
  guardedSockets.add(socket)
  socket.on?.("error", ignore)
}

/**
 * ioredis listens for one error of each socket it opens (`once`): a socket, a TLS one above
 * all, may emit a second (an alert read after a reset), which nothing would handle and which
 * would end the process. Every socket of the connection keeps a listener: the one it has, the
 * one its connector is opening (made on a tick already queued), and every later one. ioredis
 * still reports the first error, as ever.
 */
export const handleEverySocketError = (connection: any): void => {
  const connector = connection.connector
  const current = () => {
    keepListening(connection.stream)
    keepListening(connector?.stream)
  }
  current()
  process.nextTick(current)
  if (connector === undefined || guardedConnectors.has(connector) || typeof connector.connect !== "function") return
  guardedConnectors.add(connector)
  const connect = connector.connect.bind(connector)
  connector.connect = (...args: Array<unknown>) =>
    connect(...args).then((socket: unknown) => {
      keepListening(socket)
      return socket
    })
}

/**
 * Guards the sockets of a client (a Cluster's node connections too, as they are made): no
 * socket error goes unhandled, and, for a connection of ours (`unref`), its sockets and
 * reconnect timers never hold the process open.
 */
const guardSockets = (client: Client, unref: boolean): void => {
  const unrefNow = (connection: any) => {
    connection.stream?.unref?.()
    connection.reconnectTimeout?.unref?.()
  }
  const hook = (connection: any) => {
    handleEverySocketError(connection)
    if (!unref) return
    connection.on("connect", () => unrefNow(connection))
    connection.on("reconnecting", () => unrefNow(connection))
    unrefNow(connection)
  }
  if (client instanceof Cluster) client.on("+node", hook)
  // A Cluster has no socket of its own, but its subscriber connection is one.
  hook(client)
}

/**
 * Rejects with a timeout error if `promise` has not settled within `millis`; never leaves a
 * timer behind. A reply that arrived while the process could not run (its event loop stalled
 * past the deadline) is taken: timers run before the sockets are read, so the timeout waits
 * for the sockets' turn (`setImmediate`) before it rejects.
 */
export const deadline = <A>(promise: Promise<A>, millis: number): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(
      () => setImmediate(() => reject(new TimedOut(`timed out after ${Math.round(millis)} ms`))),
      millis
    )
    timer.unref()
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error) => {
        clearTimeout(timer)
        reject(error)
      }
    )
  })

class TimedOut extends Error {}

/** Reply errors that concern the whole server, not one key. */
const serverWide = /^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|NOAUTH|WRONGPASS|NOPERM|BUSY|TRYAGAIN)\b/

/** Whether an error says the connection is in trouble (and not one key, or one budget). */
export const isConnectionFailure = (error: unknown, wholeTimeout: boolean): boolean => {
  if (error instanceof TimedOut) return wholeTimeout
  const name = (error as Error | undefined)?.name
  const message = String((error as Error | undefined)?.message ?? error)
  if (name === "ReplyError") return serverWide.test(message)
  if (/timed? ?out/i.test(message)) return wholeTimeout
  return true
}

/**
 * A store error, with no stack: it says what Redis did, and where in the store it was
 * noticed is no help (formatting a stack costs more than the error is worth on this path).
 */
export const storeError = (reason: CircuitStoreError["reason"], detail: string): CircuitStoreError => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return new CircuitStoreError({ reason, detail })
  } finally {
    Error.stackTraceLimit = limit
  }
}

/** When the current read-modify-write must be done by (epoch milliseconds), if one is running. */
const budgetEnds = FiberRef.unsafeMake<number | undefined>(undefined)

export type Health = "unknown" | "up" | "down"

export class Connection {
  readonly client: Client & CommandClient
  readonly subscriber: Client
  /** On a Cluster, a subscriber on every master too (see `MasterSubscribers`), once listened on. */
  masterSubscribers: MasterSubscribers | undefined = undefined
  readonly owned: boolean
  health: Health = "unknown"
  /** When the current outage began (`Date.now()`). */
  downSince = 0
  /** `Date.now()` when Redis last answered a command. */
  lastAnswer = 0
  releasing = false
  private connected: Promise<void> | undefined = undefined
  private readonly listeners: Array<readonly [Client, string, (...args: Array<any>) => void]> = []

  constructor(
    target: Target | Client,
    readonly storeTimeout: number,
    /** Told of every change of health: `reason` when Redis became unreachable. */
    private readonly onHealth: (up: boolean, reason: string | undefined) => void
  ) {
    this.owned = !(target instanceof Redis || target instanceof Cluster)
    const client = this.owned ? openClient(target as Target, storeTimeout) : (target as Client)
    this.client = client as Client & CommandClient
    this.subscriber = openSubscriber(client, storeTimeout)
    guardSockets(client, this.owned)
    guardSockets(this.subscriber, true)
    for (const script of scripts.all) {
      client.defineCommand(script.name, {
        numberOfKeys: script.numberOfKeys,
        lua: script.lua,
        ...(script.readOnly ? { readOnly: true } : {})
      })
    }
    this.listen(client, "error", (error: Error) => this.setHealthy(false, error.message))
    this.listen(client, "close", () => this.setHealthy(false, "connection closed"))
    this.listen(client, "ready", () => this.setHealthy(true))
  }

  /** On a Cluster, hears `channel` on every master too, once the loop's ticks `reconcile()` them. */
  listenOnEveryMaster(channel: string, onMessage: (message: string) => void): void {
    if (!(this.client instanceof Cluster) || this.masterSubscribers !== undefined) return
    this.masterSubscribers = new MasterSubscribers(
      this.client,
      channel,
      subscriberOptions(this.storeTimeout),
      (subscriber) => guardSockets(subscriber, true),
      onMessage
    )
  }

  listen(client: Client, event: string, listener: (...args: Array<any>) => void): void {
    client.on(event, listener)
    this.listeners.push([client, event, listener])
  }

  setHealthy(next: boolean, reason?: string): void {
    if (this.releasing || this.health === (next ? "up" : "down")) return
    this.health = next ? "up" : "down"
    if (!next) this.downSince = Date.now()
    this.onHealth(next, next ? undefined : redact(reason ?? "unknown"))
  }

  /** Whether Redis is known to be unreachable now (an outage was seen, or the connection is not ready). */
  unavailable(): boolean {
    if (this.health === "up" && this.client.status !== "ready")
      this.setHealthy(false, `connection ${this.client.status}`)
    return this.health === "down"
  }

  isHealthy(): boolean {
    return this.health === "up" && this.client.status === "ready"
  }

  /**
   * Sends `f`'s command now when connected: not a microtask later, after whatever the caller
   * does next (a failing call's own bookkeeping, on the way to the trip it just made). A command
   * made while the connection is (re)opening waits for it, within the store timeout.
   */
  private sendWhenConnected<A>(f: () => Promise<A>): Promise<A> {
    const client = this.client
    if (client.status === "ready") return f()
    if (client.status === "end") return Promise.reject(new Error("connection closed"))
    return (this.connected ??= new Promise<void>((resolve) =>
      client.once("ready", () => {
        this.connected = undefined
        resolve()
      })
    )).then(f)
  }

  /** Runs the effect with one budget, the store timeout, for every command it makes. */
  withinBudget<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.suspend(() => Effect.locally(effect, budgetEnds, Date.now() + this.storeTimeout))
  }

  /**
   * Runs one Redis command, bounded by the store timeout, or by what is left of the
   * caller's budget. The bound is a timer on the promise itself, not an Effect
   * interruption: the breaker asks for trial permits inside an uninterruptible region,
   * where an interruption would wait for the command to finish.
   */
  run<A>(what: string, f: () => Promise<A>): Effect.Effect<A, CircuitStoreError> {
    return Effect.flatMap(FiberRef.get(budgetEnds), (ends) => {
      const limit = Math.min(this.storeTimeout, ends === undefined ? this.storeTimeout : ends - Date.now())
      if (limit <= 0) {
        return Effect.fail(storeError("Timeout", `${what}: no time left within ${this.storeTimeout} ms`))
      }
      let sent: Promise<A> | undefined
      return Effect.tryPromise({
        try: () => deadline((sent = this.sendWhenConnected(f)), limit),
        catch: (cause) => {
          const message = String((cause as Error)?.message ?? cause)
          // A command that had (nearly) the whole store timeout and got no answer: Redis is
          // unreachable. One cut short by its caller's budget is watched until the whole
          // store timeout has passed.
          if (isConnectionFailure(cause, limit >= this.storeTimeout * 0.9))
            this.setHealthy(false, `${what}: ${message}`)
          else if (cause instanceof TimedOut) this.watch(sent, what, this.storeTimeout - limit)
          return storeError(/timed? ?out/i.test(message) ? "Timeout" : "Unavailable", `${what}: ${redact(message)}`)
        }
      }).pipe(
        Effect.tap(() =>
          Effect.sync(() => {
            this.lastAnswer = Date.now()
            this.setHealthy(true)
          })
        )
      )
    })
  }

  /**
   * Marks Redis unreachable if `command` is still unanswered `millis` from now (the same
   * deadline as a command's: a reply that came in while the process could not run counts).
   */
  private watch(command: Promise<unknown> | undefined, what: string, millis: number): void {
    if (command === undefined) return
    deadline(command, millis).catch((cause) => {
      if (cause instanceof TimedOut) this.setHealthy(false, `${what}: no answer within ${this.storeTimeout} ms`)
    })
  }

  /** Closes what the store opened (not a client it was given), each within the store timeout. */
  close(): Promise<void> {
    this.releasing = true
    const close = (connection: Client) =>
      deadline(connection.quit(), this.storeTimeout)
        .catch(() => undefined)
        .then(() => connection.disconnect())
    const closing = [
      close(this.subscriber),
      ...(this.owned ? [close(this.client)] : []),
      this.masterSubscribers?.close(close) ?? Promise.resolve()
    ]
    return Promise.all(closing).then(() => {
      // Listeners stay until the connections are closed, so that a late error is never unhandled.
      for (const [client, event, listener] of this.listeners) {
        if (event !== "error" || client !== this.client || this.owned) client.off(event, listener)
      }
    })
  }
}
