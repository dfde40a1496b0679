/**
 * A registry of named breakers for non-Effect code, as in the original specification:
 *
 * ```ts
 * const payments = CircuitBreakerManager.register("payment-service", (order: Order) => processPayment(order))
 * await payments.execute(order) // typed: (order: Order) => Promise<Receipt>
 * await CircuitBreakerManager.get<[Order], Receipt>("payment-service")?.execute(order)
 * const metrics = await CircuitBreakerManager.aggregateMetrics()
 * ```
 *
 * `CircuitBreakerManager` is the default, process-wide manager; `createCircuitBreakerManager()`
 * makes separate ones (for tests, or one per tenant).
 *
 * @since 0.1.0
 */
import { CircuitBreakerConfigError } from "@circuit-breaker/core"
import {
  type AdvancedCircuitBreaker,
  type CircuitMetrics,
  createAdvancedCircuitBreaker,
  type DistributedState,
  type ExecuteArgs,
  type Options
} from "./AdvancedCircuitBreaker.js"

/**
 * What `aggregateMetrics()` resolves to.
 *
 * @since 0.1.0
 * @category models
 */
export interface AggregatedMetrics {
  readonly circuits: Readonly<Record<string, CircuitMetrics>>
  readonly totals: {
    readonly totalCalls: number
    readonly successCalls: number
    readonly failureCalls: number
    readonly rejectedCalls: number
    readonly timeoutCalls: number
  }
  readonly openCircuits: ReadonlyArray<string>
  /**
   * With distributed breakers: what the shared store holds for circuits that this manager
   * has not registered (those of other processes), by name.
   */
  readonly sharedCircuits?: Readonly<Record<string, DistributedState>>
}

/**
 * Named breakers, created, found and disposed by name, with their metrics aggregated.
 *
 * @example
 * ```ts
 * import { CircuitBreakerManager } from "@circuit-breaker/promise"
 *
 * interface Order { readonly id: string }
 * const charge = async (order: Order): Promise<string> => `receipt for ${order.id}`
 *
 * // register returns the breaker, typed by the function it wraps
 * const payments = CircuitBreakerManager.register("payment-service", charge, { failureThreshold: 5 })
 * const receipt: string = await payments.execute({ id: "o-1" })
 *
 * // elsewhere: the caller says what it expects under that name
 * const found = CircuitBreakerManager.get<[Order], string>("payment-service")
 * await found?.execute({ id: "o-2" })
 *
 * const { totals, openCircuits } = await CircuitBreakerManager.aggregateMetrics()
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreakerManager {
  /**
   * Creates and registers a breaker; `name` becomes its name and serviceId. Throws at once,
   * registering nothing, if the name is empty, not a string or taken, or an option is invalid.
   * The breaker it returns is typed by `fn`: `execute` takes `fn`'s arguments and resolves
   * with its result.
   */
  register<Args extends ReadonlyArray<unknown>, R>(
    name: string,
    fn: (...args: Args) => R | PromiseLike<R>,
    options?: Omit<Options, "name">
  ): AdvancedCircuitBreaker<ExecuteArgs<Args>, Awaited<R>>
  /**
   * The breaker registered under `name`, or `undefined`. The caller names the arguments and
   * result it expects (`get<[Order], Receipt>("payment-service")`), as with `Map.get` these
   * are not checked at run time; without them `execute` takes any arguments and resolves
   * with `unknown`.
   */
  get<Args extends ReadonlyArray<unknown> = ReadonlyArray<unknown>, R = unknown>(
    name: string
  ): AdvancedCircuitBreaker<Args, R> | undefined
  has(name: string): boolean
  /** Removes and disposes the breaker; `false` if there was none. */
  unregister(name: string): Promise<boolean>
  names(): ReadonlyArray<string>
  /** Every circuit's metrics, their totals, and the names of the open circuits. */
  aggregateMetrics(): Promise<AggregatedMetrics>
  /** Unregisters and disposes every breaker. */
  clear(): Promise<void>
}

class Manager implements CircuitBreakerManager {
  private readonly breakers = new Map<string, AdvancedCircuitBreaker<ReadonlyArray<never>, unknown>>()

  register<Args extends ReadonlyArray<unknown>, R>(
    name: string,
    fn: (...args: Args) => R | PromiseLike<R>,
    options?: Omit<Options, "name">
  ): AdvancedCircuitBreaker<ExecuteArgs<Args>, Awaited<R>> {
    if (typeof name !== "string" || name.trim().length === 0) {
      throw new CircuitBreakerConfigError({ option: "name", value: name, reason: "must be a non-empty string" })
    }
    if (this.breakers.has(name)) {
      throw new CircuitBreakerConfigError({
        option: "name",
        value: name,
        reason: "a breaker with this name is already registered"
      })
    }
    if (options !== undefined && (typeof options !== "object" || options === null || Array.isArray(options))) {
      throw new CircuitBreakerConfigError({ option: "options", value: options, reason: "must be an object" })
    }
    const breaker = createAdvancedCircuitBreaker(fn, { serviceId: name, ...options, name })
    this.breakers.set(name, breaker as unknown as AdvancedCircuitBreaker<ReadonlyArray<never>, unknown>)
    return breaker
  }

  get<Args extends ReadonlyArray<unknown> = ReadonlyArray<unknown>, R = unknown>(
    name: string
  ): AdvancedCircuitBreaker<Args, R> | undefined {
    return this.breakers.get(name) as AdvancedCircuitBreaker<Args, R> | undefined
  }

  has(name: string): boolean {
    return this.breakers.has(name)
  }

  async unregister(name: string): Promise<boolean> {
    const breaker = this.breakers.get(name)
    if (breaker === undefined) return false
    this.breakers.delete(name)
    await breaker.dispose()
    return true
  }

  names(): ReadonlyArray<string> {
    return Array.from(this.breakers.keys())
  }

  async aggregateMetrics(): Promise<AggregatedMetrics> {
    const circuits: Record<string, CircuitMetrics> = {}
    const openCircuits: Array<string> = []
    const totals = { totalCalls: 0, successCalls: 0, failureCalls: 0, rejectedCalls: 0, timeoutCalls: 0 }
    for (const [name, breaker] of this.breakers) {
      const m = breaker.getMetrics()
      circuits[name] = m
      if (m.state === "OPEN") openCircuits.push(name)
      totals.totalCalls += m.totalCalls
      totals.successCalls += m.successCalls
      totals.failureCalls += m.failureCalls
      totals.rejectedCalls += m.rejectedCalls
      totals.timeoutCalls += m.timeoutCalls
    }
    const shared = this.sharedCircuits()
    if (shared === undefined) return { circuits, totals, openCircuits }
    const sharedCircuits: Record<string, DistributedState> = {}
    for (const [name, state] of Object.entries(await shared)) {
      if (!this.breakers.has(name)) sharedCircuits[name] = state
    }
    return { circuits, totals, openCircuits, sharedCircuits }
  }

  /** Asks the first distributed breaker's store for every circuit it holds. */
  private sharedCircuits(): Promise<Record<string, DistributedState>> | undefined {
    for (const breaker of this.breakers.values()) {
      const shared = (
        breaker as { sharedCircuits?: () => Promise<Record<string, DistributedState>> | undefined }
      ).sharedCircuits?.()
      if (shared !== undefined) return shared
    }
    return undefined
  }

  async clear(): Promise<void> {
    const all = Array.from(this.breakers.values())
    this.breakers.clear()
    await Promise.all(all.map((breaker) => breaker.dispose()))
  }
}

/**
 * A new, empty manager, isolated from the default one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const createCircuitBreakerManager = (): CircuitBreakerManager => new Manager()

/**
 * The default, process-wide manager.
 *
 * @since 0.1.0
 * @category instances
 */
export const CircuitBreakerManager: CircuitBreakerManager = createCircuitBreakerManager()
