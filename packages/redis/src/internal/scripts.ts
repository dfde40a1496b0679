/**
 * The Lua scripts. Each touches one circuit's key, declared in KEYS, so that a circuit
 * lives in one Redis Cluster slot. They hold no policy: the pure TypeScript transitions
 * decide, the scripts only compare versions and write atomically.
 *
 * Every reply ends with the server's clock (milliseconds), which the store uses to keep
 * shared deadlines on one clock whatever the hosts' clocks say.
 */

const serverNow = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/** @internal */
export interface ScriptDef {
  readonly name: string
  readonly numberOfKeys: number
  readonly lua: string
  readonly readOnly?: boolean
}

/**
 * KEYS[1] the state hash. Returns `{ version, stateJson | false, updatedAt | false, updatedBy | false, now }`.
 * @internal
 */
export const read: ScriptDef = {
  name: "circuitBreakerRead",
  numberOfKeys: 1,
  readOnly: true,
  lua: `#!lua flags=no-writes
${serverNow}
local fields = redis.call('HMGET', KEYS[1], 'v', 'st', 'at', 'by')
return { tonumber(fields[1] or '0'), fields[2], fields[3], fields[4], now }`
}

/**
 * Compare-and-set. KEYS[1] the state hash. ARGV: expected version, state JSON, instance id,
 * TTL (ms), channel, message, "1" to publish. Writes only if the stored version is the
 * expected one (0: no state yet), then publishes the message when asked (atomically with the
 * write, so no change goes unannounced).
 * Returns `{ won (1/0), version, stateJson | false, now }`: on a lost race, what is stored.
 * @internal
 */
export const compareAndSet: ScriptDef = {
  name: "circuitBreakerCompareAndSet",
  numberOfKeys: 1,
  lua: `${serverNow}
local version = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if version ~= tonumber(ARGV[1]) then
  return { 0, version, redis.call('HGET', KEYS[1], 'st'), now }
end
redis.call('HSET', KEYS[1], 'v', version + 1, 'st', ARGV[2], 'by', ARGV[3], 'at', now)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if ARGV[7] == '1' then
  redis.call('PUBLISH', ARGV[5], ARGV[6])
end
return { 1, version + 1, ARGV[2], now }`
}

/** @internal */
export const all: ReadonlyArray<ScriptDef> = [read, compareAndSet]
