/**
 * Many timeouts of one length, served by one timer. Every call of a breaker has the same
 * timeout, so deadlines arrive in order: a linked list kept in insertion order is sorted,
 * adding and removing are O(1), and one Node timer set for the earliest deadline serves
 * them all (a Node timer per call costs more than the rest of the call). The timer keeps
 * the process alive only while some deadline is pending.
 *
 * Used by the Effect executor and by `@circuit-breaker/promise`; not needed by
 * applications.
 *
 * @since 0.1.0
 */
import * as internal from "./internal/deadlines.js"

/**
 * One pending deadline: a node of the list. Subclass it (implementing `expire`) to carry
 * a call's own data without a closure, and hand it to {@link Deadlines.insert}.
 *
 * @since 0.1.0
 * @category models
 */
export const Deadline: typeof internal.Deadline = internal.Deadline

/**
 * @since 0.1.0
 * @category models
 */
export type Deadline = internal.Deadline

/**
 * The list of pending deadlines and its one timer: `new Deadlines(now)`, where `now`
 * reads the clock the deadlines are measured on. `add(at, onExpire)` or `insert(node)`,
 * `remove(node)` when the call ends first, `expireAll()` on disposal.
 *
 * @since 0.1.0
 * @category constructors
 */
export const Deadlines: typeof internal.Deadlines = internal.Deadlines

/**
 * @since 0.1.0
 * @category models
 */
export type Deadlines = internal.Deadlines
