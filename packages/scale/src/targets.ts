/**
 * The Redis deployments the scale run measures: one redis-server, and a Redis Cluster of 3 masters (no replicas),
 * each started here on free loopback ports and stopped by pid; and what their INFO says.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { type RedisServer, startRedisServer } from "../../redis/test/utils/redisProcess.js"
import type { Target } from "./protocol.js"

export interface RunningTarget {
  readonly label: string
  readonly target: Target
  readonly servers: ReadonlyArray<RedisServer>
  readonly stop: () => Promise<void>
}

/** Room for thousands of connections (the Promise API opened two per breaker), within the file limit. */
const MAX_CLIENTS = ["--maxclients", "19000"]

export const startSingle = async (): Promise<RunningTarget> => {
  const server = await startRedisServer({ args: MAX_CLIENTS })
  return {
    label: "1 redis-server",
    target: { kind: "single", url: server.url },
    servers: [server],
    stop: () => server.stop()
  }
}

const clusterReady = async (servers: ReadonlyArray<RedisServer>) => {
  for (let tries = 0; tries < 200; tries++) {
    const infos = await Promise.all(servers.map((s) => s.command("CLUSTER", "INFO")))
    if (infos.every((info) => info.includes("cluster_state:ok"))) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error("the cluster did not reach cluster_state:ok within 20 s")
}

export const startCluster = async (): Promise<RunningTarget> => {
  const dir = mkdtempSync(join(tmpdir(), "scale-cluster-"))
  const servers = await Promise.all(
    [0, 1, 2].map((i) =>
      startRedisServer({
        args: [...MAX_CLIENTS, "--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${i}.conf`)]
      })
    )
  )
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const nodes = servers.map((s) => `${s.host}:${s.port}`)
    await promisify(execFile)("redis-cli", [
      "--cluster",
      "create",
      ...nodes,
      "--cluster-replicas",
      "0",
      "--cluster-yes"
    ])
    await clusterReady(servers)
  } catch (error) {
    await stop()
    throw error
  }
  return {
    label: "3-master cluster",
    target: { kind: "cluster", nodes: servers.map((s) => s.port) },
    servers,
    stop
  }
}

/** The fields of an INFO section, from the raw reply of `RedisServer.command`. */
export const info = async (server: RedisServer, section: string): Promise<Map<string, string>> => {
  const reply = await server.command("INFO", section)
  const fields = new Map<string, string>()
  for (const line of reply.split("\r\n")) {
    const colon = line.indexOf(":")
    if (colon > 0 && !line.startsWith("#")) fields.set(line.slice(0, colon), line.slice(colon + 1))
  }
  return fields
}

/** Sums a figure over every server of the target. */
export const sumOver = async (
  running: RunningTarget,
  figure: (server: RedisServer) => Promise<number>
): Promise<number> => (await Promise.all(running.servers.map(figure))).reduce((a, b) => a + b, 0)

/** Commands served so far (every `cmdstat_*` line's `calls`). */
export const commandsServed = (server: RedisServer): Promise<number> =>
  info(server, "commandstats").then((fields) => {
    let total = 0
    for (const [key, value] of fields) {
      if (key.startsWith("cmdstat_")) total += Number(/calls=(\d+)/.exec(value)?.[1] ?? 0)
    }
    return total
  })

/** Clients connected now, less the one asking. */
export const connections = (server: RedisServer): Promise<number> =>
  info(server, "clients").then((fields) => Number(fields.get("connected_clients") ?? 1) - 1)

export const usedMemory = (server: RedisServer): Promise<number> =>
  info(server, "memory").then((fields) => Number(fields.get("used_memory") ?? 0))

/** CPU seconds the server has used (user + system). */
export const cpuSeconds = (server: RedisServer): Promise<number> =>
  info(server, "cpu").then(
    (fields) => Number(fields.get("used_cpu_user") ?? 0) + Number(fields.get("used_cpu_sys") ?? 0)
  )

/** Connections subscribed to `channel` on this node: each receives every message published on it. */
export const subscribers = (server: RedisServer, channel: string): Promise<number> =>
  server.command("PUBSUB", "NUMSUB", channel).then((reply) => Number(/:(\d+)\s*$/.exec(reply)?.[1] ?? 0))
