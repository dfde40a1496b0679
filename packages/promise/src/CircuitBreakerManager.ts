/**
 * A registry of named breakers for non-Effect code, as in the original specification:
 *
 * ```ts
 * CircuitBreakerManager.register("payment-service", () => processPayment(), { failureThreshold: 5 })
 * await CircuitBreakerManager.get("payment-service")?.execute()
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
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreakerManager {
  /**
   * Creates and registers a breaker; `name` becomes its name and serviceId. Throws at once,
   * registering nothing, if the name is empty, not a string or taken, or an option is invalid.
   */
  register<Args extends ReadonlyArray<unknown>, R>(
    name: string,
    fn: (...args: Args) => R | PromiseLike<R>,
    options?: Omit<Options, "name">
  ): AdvancedCircuitBreaker<ExecuteArgs<Args>, Awaited<R>>
  /** The breaker registered under `name`, or `undefined`. */
  get(name: string): AdvancedCircuitBreaker<ReadonlyArray<any>, any> | undefined
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
  private readonly breakers = new Map<string, AdvancedCircuitBreaker<ReadonlyArray<any>, any>>()

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
    this.breakers.set(name, breaker as AdvancedCircuitBreaker<ReadonlyArray<any>, any>)
    return breaker
  }

  get(name: string) {
    return this.breakers.get(name)
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
