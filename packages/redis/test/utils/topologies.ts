/**
 * Redis topologies for tests, soak and scale runs: a real Redis Cluster of N masters (`redis-server
 * --cluster-enabled yes` on free loopback ports, joined with `redis-cli --cluster create`), and a Sentinel setup
 * (one master, one replica, one sentinel). Every process is started here and stopped by pid.
 *
 * `describeWithRedisCli` runs a suite only where redis-cli is installed too, and fails under `CI=true` otherwise.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { type AddressInfo, createServer } from "node:net"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { describe, it } from "@effect/vitest"
import { Redis } from "ioredis"
import { HOST, type RedisServer, redisServerPath, requireRedisServer, startRedisServer } from "./redisProcess.js"

const onPath = (name: string): string | undefined => {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue
    try {
      accessSync(join(dir, name), constants.X_OK)
      return join(dir, name)
    } catch {
      // not here
    }
  }
  return undefined
}

/** The `redis-cli` executable found on PATH, if any. */
export const redisCliPath: string | undefined = onPath("redis-cli")

/** `describe` where redis-server and redis-cli are installed; a visible skip, or a failure under `CI=true`, otherwise. */
export const describeWithRedisCli = (name: string, fn: () => void): void => {
  if (redisServerPath !== undefined && redisCliPath !== undefined) describe(name, fn)
  else if (process.env.CI === "true") {
    describe(name, () => {
      it("needs redis-server and redis-cli", () => {
        throw new Error("redis-server and redis-cli are required under CI")
      })
    })
  } else {
    console.warn("redis-cli not found: skipping the Redis Cluster and Sentinel tests")
    describe.skip(name, fn)
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once("error", reject)
    server.listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

/** Polls `check` until it holds, for at most `within` ms. */
const until = async (what: string, check: () => Promise<boolean>, within = 15_000): Promise<void> => {
  const start = Date.now()
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() - start > within) throw new Error(`${what}: not within ${within} ms`)
    await sleep(100)
  }
}

/** One command on a short-lived connection. */
export const commandOn = async (port: number, ...args: [string, ...Array<string>]): Promise<unknown> => {
  const redis = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  redis.on("error", () => {
    // Reported by the command's rejection.
  })
  try {
    await redis.connect()
    return await redis.call(...args)
  } finally {
    redis.disconnect()
  }
}

export interface RedisCluster {
  /** Every master, as `{ host, port }` (ioredis ClusterNode). */
  readonly nodes: ReadonlyArray<{ readonly host: string; readonly port: number }>
  readonly servers: ReadonlyArray<RedisServer>
  /** `host:port,host:port,…`, as `REDIS_CLUSTER_NODES` takes it. */
  readonly nodeList: string
  stop(): Promise<void>
}

/**
 * Starts `masters` redis-server processes in cluster mode and joins them into one cluster (no replicas), serving
 * the slots it still covers when a master is down (`cluster-require-full-coverage no`).
 */
export const startRedisCluster = async (masters = 3): Promise<RedisCluster> => {
  const cli = redisCliPath
  if (cli === undefined) throw new Error("redis-cli is not installed")
  const dir = mkdtempSync(join(tmpdir(), "cb-cluster-"))
  const servers: Array<RedisServer> = []
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < masters; i++) {
      servers.push(
        await startRedisServer({
          args: [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            join(dir, `nodes-${i}.conf`),
            "--cluster-node-timeout",
            "2000",
            "--cluster-require-full-coverage",
            "no",
            "--dir",
            dir
          ]
        })
      )
    }
    const addresses = servers.map((server) => `${server.host}:${server.port}`)
    await new Promise<void>((resolve, reject) =>
      execFile(cli, ["--cluster", "create", ...addresses, "--cluster-replicas", "0", "--cluster-yes"], (error) =>
        error ? reject(error) : resolve()
      )
    )
    for (const server of servers) {
      await until("cluster_state:ok", async () =>
        String(await commandOn(server.port, "CLUSTER", "INFO")).includes("cluster_state:ok")
      )
    }
  } catch (error) {
    await stop()
    throw error
  }
  const nodes = servers.map((server) => ({ host: server.host, port: server.port }))
  return { nodes, servers, nodeList: nodes.map((node) => `${node.host}:${node.port}`).join(","), stop }
}

export interface SentinelSetup {
  readonly master: RedisServer
  readonly replica: RedisServer
  readonly sentinel: { readonly host: string; readonly port: number; readonly pid: number }
  /** The name the sentinel monitors. */
  readonly name: string
  /** The master the sentinel names now. */
  currentMaster(): Promise<number>
  stop(): Promise<void>
}

const sentinels = new Set<ChildProcess>()
process.on("exit", () => {
  for (const child of sentinels) child.kill("SIGKILL")
})

/** One master, one replica of it, and one sentinel (quorum 1, a master is down after 1 s without answers). */
export const startSentinelSetup = async (): Promise<SentinelSetup> => {
  const name = "cbmaster"
  const dir = mkdtempSync(join(tmpdir(), "cb-sentinel-"))
  // A replica writes what it receives to a file in its directory: never the tests' working one.
  const dataDir = (role: string) => {
    const path = join(dir, role)
    mkdirSync(path)
    return path
  }
  const master = await startRedisServer({ args: ["--dir", dataDir("master")] })
  const replica = await startRedisServer({
    args: ["--replicaof", HOST, String(master.port), "--dir", dataDir("replica")]
  })
  const port = await freePort()
  const config = join(dir, "sentinel.conf")
  writeFileSync(
    config,
    [
      `port ${port}`,
      `bind ${HOST}`,
      `dir ${dir}`,
      `sentinel monitor ${name} ${HOST} ${master.port} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      ""
    ].join("\n")
  )
  const child = spawn(requireRedisServer(), [config, "--sentinel"], { stdio: "ignore" })
  child.unref()
  sentinels.add(child)
  const stop = async () => {
    child.kill("SIGKILL")
    sentinels.delete(child)
    await Promise.all([master.stop(), replica.stop()])
    rmSync(dir, { recursive: true, force: true })
  }
  const currentMaster = async () => {
    const reply = (await commandOn(port, "SENTINEL", "get-master-addr-by-name", name)) as Array<string>
    return Number(reply[1])
  }
  try {
    await until("sentinel ready", async () => (await currentMaster()) === master.port)
    await until("replica in sync", async () =>
      String(await commandOn(replica.port, "INFO", "replication")).includes("master_link_status:up")
    )
  } catch (error) {
    await stop()
    throw error
  }
  return { master, replica, sentinel: { host: HOST, port, pid: child.pid! }, name, currentMaster, stop }
}
