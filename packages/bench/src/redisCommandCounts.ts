/**
 * Counting the commands a redis-server ran: `total_commands_processed` and `INFO commandstats`, read on a raw
 * connection, as deltas between two reads and as rates per second.
 */
import type { Resp } from "./respClient.js"

/** The commands the store's Lua scripts run inside Redis (packages/redis/src/internal/scripts.ts). */
export const INSIDE_SCRIPTS = new Set(["time", "hmget", "hget", "hset", "pexpire", "publish"])

/** What one INFO read says: total_commands_processed and calls per command. */
export interface Counters {
  readonly total: number
  readonly calls: ReadonlyMap<string, number>
}

export const readCounters = async (client: Resp): Promise<Counters> => {
  const info = String(await client.command("INFO", "all"))
  const total = Number(/total_commands_processed:(\d+)/.exec(info)?.[1])
  const calls = new Map<string, number>()
  for (const match of info.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) calls.set(match[1]!, Number(match[2]))
  return { total, calls }
}

/** Commands run between two reads, without the first read's own INFO (counted by the second). */
export const commandsBetween = (before: Counters, after: Counters): Counters => {
  const calls = new Map<string, number>()
  for (const [name, n] of after.calls) {
    const d = n - (before.calls.get(name) ?? 0) - (name === "info" ? 1 : 0)
    if (d !== 0) calls.set(name, d)
  }
  return { total: after.total - before.total - 1, calls }
}

export const perSecond = (counters: ReadonlyArray<Counters>, seconds: number, name?: string): number =>
  counters.reduce((n, c) => n + (name === undefined ? c.total : (c.calls.get(name) ?? 0)), 0) / seconds
