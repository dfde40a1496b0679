/**
 * The bench's own redis-server processes: found on PATH, spawned on a free loopback port without persistence,
 * stopped by pid, and SIGKILLed with any other child the Redis section started if the bench exits first.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { accessSync, constants, statSync } from "node:fs"
import { type AddressInfo, createServer } from "node:net"
import { delimiter, join } from "node:path"
import { HOST, Resp } from "./respClient.js"
import { sleep } from "./sleep.js"

export const findOnPath = (name: string): string | undefined => {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      if (statSync(candidate).isFile()) return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

export interface Server {
  readonly url: string
  readonly port: number
  readonly version: string
  readonly stop: () => Promise<void>
}

/** Started servers: SIGKILLed if the bench exits without stopping them. */
export const spawned = new Set<ChildProcess>()
process.on("exit", () => {
  for (const child of spawned) child.kill("SIGKILL")
})

export const startServer = async (executable: string): Promise<Server> => {
  const port = await freePort()
  const args = ["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
  const child = spawn(executable, [...args, "--daemonize", "no", "--protected-mode", "no"], {
    stdio: ["ignore", "pipe", "pipe"]
  })
  spawned.add(child)
  let output = ""
  const collect = (chunk: Buffer) => void (output = (output + chunk.toString("utf8")).slice(-4096))
  child.stdout!.on("data", collect)
  child.stderr!.on("data", collect)
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  void exited.then(() => spawned.delete(child))
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill("SIGTERM")
    const timer = setTimeout(() => child.kill("SIGKILL"), 2000)
    await exited
    clearTimeout(timer)
  }
  const deadline = Date.now() + 5000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited at start:\n${output}`)
    try {
      const client = await Resp.connect(port)
      try {
        if ((await client.command("PING")) === "PONG") {
          const info = String(await client.command("INFO", "server"))
          if (info.includes(`process_id:${child.pid}\r\n`)) {
            const version = /redis_version:(\S+)/.exec(info)?.[1] ?? "?"
            return { url: `redis://${HOST}:${port}`, port, version, stop }
          }
        }
      } finally {
        client.close()
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`redis-server on port ${port} not ready within 5 s:\n${output}`)
    }
    await sleep(20)
  }
}
