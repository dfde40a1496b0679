/**
 * The Lua scripts. Each touches keys it is given in KEYS (one circuit's hash, or one node's
 * marker), so that a script lives in one Redis Cluster slot. They hold no policy: the pure
 * TypeScript transitions decide, the scripts only compare versions and write atomically.
 *
 * A circuit's hash: `v` version, `i` incarnation (a new one whenever the hash is created
 * again: after a flush, a restart, an expiry, a repair), `st` state JSON, `at` when written
 * (Redis time), `by` the writer's instance id. A `v` that is not a decimal integer, or a key
 * of another type, reads as version -1: corrupt, and overwritten by a write that expects -1.
 *
 * Every reply ends with the server's clock (milliseconds), which the store uses to keep
 * shared deadlines on one clock whatever the hosts' clocks say.
 */

const serverNow = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/** Sets `version` (-1 when corrupt, 0 when missing) and `fields` (false when corrupt) from HMGET. */
const readVersion = `local fields = redis.pcall('HMGET', KEYS[1], 'v', 'i', 'st', 'at', 'by')
local version = 0
if type(fields) == 'table' and fields.err then
  version = -1
  fields = { false, false, false, false, false }
elseif fields[1] then
  local raw = fields[1]
  if string.len(raw) <= 15 and string.match(raw, '^%d+$') then version = tonumber(raw) else version = -1 end
end`

/** @internal */
export interface ScriptDef {
  readonly name: string
  readonly numberOfKeys: number
  readonly lua: string
  readonly readOnly?: boolean
}

/**
 * KEYS[1] the state hash.
 * Returns `{ version, incarnation | false, stateJson | false, updatedAt | false, updatedBy | false, now, time }`,
 * `time` being `seconds.microseconds`, as an incarnation is written.
 * @internal
 */
export const read: ScriptDef = {
  name: "circuitBreakerRead",
  numberOfKeys: 1,
  readOnly: true,
  lua: `#!lua flags=no-writes
${serverNow}
${readVersion}
return { version, fields[2], fields[3], fields[4], fields[5], now, t[1] .. '.' .. t[2] }`
}

/**
 * Compare-and-set. KEYS[1] the state hash. ARGV: expected version, expected incarnation
 * ("" for none, "*" for any), state JSON, instance id, TTL (ms; 0: none), channel, circuit name,
 * the node's change count ("" for none). Writes only if the stored version and incarnation are
 * the expected ones (version 0: no state yet; -1: corrupt, replaced), bumps the change count,
 * then announces the new state on the channel, atomically with the write:
 * `version[ count countKey] \n incarnation \n state \n name`. The count is a key of another
 * slot on the same node, left undeclared (a script may touch one on its own node): a count
 * that is not there (a slot map out of date) is skipped, never fails the write.
 * Returns `{ won (1/0), version, incarnation | false, stateJson | false, now }`: on a lost
 * race, what is stored.
 * @internal
 */
export const compareAndSet: ScriptDef = {
  name: "circuitBreakerCompareAndSet",
  numberOfKeys: 1,
  lua: `${serverNow}
${readVersion}
local incarnation = fields[2] or ''
if version ~= tonumber(ARGV[1]) or (version > 0 and ARGV[2] ~= '*' and incarnation ~= ARGV[2]) then
  return { 0, version, fields[2], fields[3], now }
end
if version < 0 then redis.call('DEL', KEYS[1]) end
if version <= 0 then incarnation = t[1] .. '.' .. t[2] end
version = math.max(version, 0) + 1
redis.call('HSET', KEYS[1], 'v', version, 'i', incarnation, 'st', ARGV[3], 'by', ARGV[4], 'at', now)
if tonumber(ARGV[5]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[5]) else redis.call('PERSIST', KEYS[1]) end
local head = version
if ARGV[8] ~= '' then
  local count = redis.pcall('INCR', ARGV[8])
  if type(count) == 'number' then head = version .. ' ' .. count .. ' ' .. ARGV[8] end
end
redis.call('PUBLISH', ARGV[6], head .. '\\n' .. incarnation .. '\\n' .. ARGV[3] .. '\\n' .. ARGV[7])
return { 1, version, incarnation, ARGV[3], now }`
}

/**
 * One node's marker: KEYS[1], and its change count: KEYS[2] (one slot). The marker is made
 * with a fresh value when missing, so that a process that finds another value than it saw
 * last knows the node lost its data (FLUSHALL, a restart empty) and reads its circuits again.
 * Returns `{ marker, now, count }`.
 * @internal
 */
export const sync: ScriptDef = {
  name: "circuitBreakerSync",
  numberOfKeys: 2,
  lua: `${serverNow}
local marker = redis.pcall('GET', KEYS[1])
if type(marker) ~= 'string' then
  marker = t[1] .. '.' .. t[2]
  redis.pcall('SET', KEYS[1], marker)
end
local count = tonumber(redis.pcall('GET', KEYS[2])) or 0
return { marker, now, count }`
}

/** @internal */
export const all: ReadonlyArray<ScriptDef> = [read, compareAndSet, sync]
