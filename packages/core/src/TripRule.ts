/**
 * The rule that decides when a Closed circuit trips. It is a small pure strategy
 * that the state machine consults, so a new rule (failure-rate windows, slow calls)
 * never touches the state machine itself.
 *
 * @since 0.1.0
 */

/**
 * A trip rule: a pure fold over call outcomes of a Closed circuit.
 *
 * `T` is the rule's own tally (for instance a count of consecutive failures). It must be
 * plain immutable data, so that a store can persist it.
 *
 * @since 0.1.0
 * @category models
 */
export interface TripRule<T> {
  /** A short name for logs and diagnostics, such as `"consecutiveFailures(5)"`. */
  readonly name: string
  /** The tally of a freshly closed circuit. */
  readonly initial: T
  /** The tally after a success observed at `now`. */
  readonly onSuccess: (tally: T, now: number) => T
  /** The tally after a failure observed at `now`. */
  readonly onFailure: (tally: T, now: number) => T
  /** Whether the tally trips the circuit. */
  readonly shouldTrip: (tally: T) => boolean
  /** The number of failures the tally currently holds, for metrics and shared-state reports. */
  readonly failureCount: (tally: T) => number
}

/**
 * Trips after `threshold` consecutive failures; any success starts the count again.
 *
 * @since 0.1.0
 * @category constructors
 */
export const consecutiveFailures = (threshold: number): TripRule<number> => {
  if (!Number.isSafeInteger(threshold) || threshold < 1) {
    throw new RangeError(`consecutiveFailures: threshold must be a positive integer, got ${String(threshold)}`)
  }
  return {
    name: `consecutiveFailures(${threshold})`,
    initial: 0,
    onSuccess: () => 0,
    onFailure: (count) => count + 1,
    shouldTrip: (count) => count >= threshold,
    failureCount: (count) => count
  }
}
