/**
 * Redis Cluster slots: which node holds a key. Used to give every master a marker key of
 * its own (see changes.ts) and to scan every master (`listCircuits`).
 */
import type { Redis } from "ioredis"

const SLOTS = 16384

/** CRC16-XMODEM, the checksum Redis Cluster takes of a key's hash tag. */
const crc16 = (text: string): number => {
  let crc = 0
  for (const byte of Buffer.from(text, "utf8")) {
    crc ^= byte << 8
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc
}

/** The slot of a key whose hash tag is `tag`. */
export const slotOfTag = (tag: string): number => crc16(tag) % SLOTS

/** `host:port`, as ioredis names a node in `cluster.slots`. */
export const nodeId = (node: Redis): string => `${node.options.host}:${node.options.port}`
