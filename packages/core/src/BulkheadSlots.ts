/**
 * The slot bookkeeping of a bulkhead (concurrent slots and a bounded queue of waiters), apart
 * from the Effect bulkhead of `Bulkhead`: the Promise API's bulkhead uses it without loading
 * the Effect runtime. Exported for the sibling packages.
 *
 * @since 0.1.0
 */
import * as slots from "./internal/bulkheadSlots.js"

/**
 * @since 0.1.0
 * @category models
 */
export const BulkheadSlots: typeof slots.BulkheadSlots = slots.BulkheadSlots

/**
 * @since 0.1.0
 * @category models
 */
export type BulkheadSlots = slots.BulkheadSlots

/**
 * @since 0.1.0
 * @category models
 */
export type Waiter = slots.Waiter
