/**
 * Where a distributed Promise breaker's circuit lives, and how its shared store behaves: the
 * types of the `redis` and `store` options of `createAdvancedCircuitBreaker`.
 *
 * @since 0.1.0
 */

/**
 * An ioredis client, `Redis` or `Cluster`, recognised by its shape (this package's types do
 * not need ioredis).
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisClient {
  duplicate(...args: ReadonlyArray<any>): unknown
  defineCommand(...args: ReadonlyArray<any>): unknown
}

/**
 * A Redis Cluster by its nodes (any few; the rest are discovered) and ioredis Cluster options.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClusterTarget {
  readonly clusterNodes: ReadonlyArray<string | number | { readonly host?: string; readonly port?: number }>
  readonly clusterOptions?: { readonly [key: string]: unknown } | undefined
}

/**
 * The shared store's settings, as in `RedisCircuitBreakerStore.Options`.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreOptions {
  /** Prepended to every key and to the channel (default `"cb:v1:"`). */
  readonly prefix?: string | undefined
  /**
   * What this breaker does while Redis cannot be reached: decide on its local view (`"local"`,
   * the default), admit every call (`"allow"`), or reject every call (`"reject"`). Breakers
   * sharing one store each keep their own.
   */
  readonly whenUnavailable?: "local" | "allow" | "reject" | undefined
  /** The longest a call waits on Redis, in milliseconds (default 250). */
  readonly storeTimeout?: number | undefined
  /** Where the store's log lines go: `"silent"`, or a function; by default, the breaker's `logger` (none: silent). */
  readonly log?: "silent" | ((entry: StoreLogEntry) => void) | undefined
}

/**
 * One line of the shared store's log (Redis reachable or not, a corrupt key repaired).
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreLogEntry {
  readonly level: string
  readonly message: string
}
