/**
 * Item 6 of the benchmark issue, Redis mode (throughput through one circuit with 100
 * concurrent callers against in-memory mode, Redis commands per second per circuit per
 * instance, trip propagation to a second process). Placeholder until
 * `@circuit-breaker/redis` exists: it prints that nothing was measured, and no verdict.
 */
export const measureRedisMode = (): ReadonlyArray<string> => ["Redis mode: not measured (needs @circuit-breaker/redis)"]
