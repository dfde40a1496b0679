/**
 * The ops CLI as a process (`src/internal/bin.ts` run with tsx), against a redis-server this file starts,
 * with a second process (`fixtures/holder.ts`) that runs a breaker on the shared circuit.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { type AddressInfo, createServer } from "node:net"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, expect, it } from "@effect/vitest"
import { monitorEventLoopLag, PATIENCE } from "../../redis/test/utils/busyMachine.js"
import { describeWithRedis, type RedisServer, startRedisServer } from "../../redis/test/utils/RedisServer.js"
import { main } from "../src/internal/cli.js"

const packageDir = fileURLToPath(new URL("..", import.meta.url))
const bin = fileURLToPath(new URL("../src/internal/bin.ts", import.meta.url))
const holderPath = fileURLToPath(new URL("./fixtures/holder.ts", import.meta.url))
const execArgv = ["--conditions=source", "--import", "tsx"]

interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly millis: number
}

const cli = (args: ReadonlyArray<string>, env: Record<string, string | undefined> = {}): Promise<Result> =>
  new Promise((resolve, reject) => {
    const started = Date.now()
    const child = spawn(process.execPath, [...execArgv, bin, ...args], {
      cwd: packageDir,
      env: { ...process.env, REDIS_URL: undefined, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    child.on("error", reject)
    child.on("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout: stdout.trim(), stderr: stderr.trim(), millis: Date.now() - started })
    })
  })

/** A second process holding a breaker on `name`; `states` collects what it prints. */
const holder = (url: string, name: string) => {
  const child: ChildProcess = spawn(process.execPath, [...execArgv, holderPath, url, name], {
    cwd: packageDir,
    stdio: ["pipe", "pipe", "pipe"]
  })
  const states: Array<string> = []
  child.stdout!.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) if (line.startsWith("state ")) states.push(line.slice(6))
  })
  const waitFor = async (state: string, ms: number) => {
    const deadline = Date.now() + ms
    while (states.at(-1) !== state && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    return states.at(-1)
  }
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve()
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000)
      child.once("exit", () => {
        clearTimeout(timer)
        resolve()
      })
      child.stdin!.end()
    })
  return { states, waitFor, stop, pid: child.pid! }
}

/** The CLI's output, run in this process through the same entry point as the bin. */
const inProcess = async (args: ReadonlyArray<string>): Promise<string> => {
  const lines: Array<string> = []
  await main(args, {
    out: (t) => lines.push(t),
    err: (t) => lines.push(t),
    env: {},
    interrupted: new Promise(() => {})
  })
  return lines.join("\n")
}

describeWithRedis("circuit-breaker CLI", () => {
  let redis: RedisServer

  beforeAll(async () => {
    redis = await startRedisServer()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it("status, trip seen by a second process, reset, isolate and release, all cluster-wide", async () => {
    const name = "payments"
    const other = holder(redis.url, name)
    try {
      expect(await other.waitFor("Closed", 20_000)).toBe("Closed")
      const status = await cli(["status", "--redis", redis.url])
      expect(status.code).toBe(0)
      expect(status.stdout).toMatch(/^CIRCUIT\s+STATE/)
      expect(status.stdout).toMatch(/payments\s+Closed/)

      const trip = await cli(["trip", name], { REDIS_URL: redis.url })
      expect(trip).toMatchObject({ code: 0, stdout: "tripped payments (cluster-wide)" })
      // Pub/sub brings the change at once; the holder polls every 20 ms (the wait allows for a loaded machine).
      expect(await other.waitFor("Open", PATIENCE)).toBe("Open")
      expect(JSON.parse(await inProcess(["status", "--json", "--redis", redis.url]))).toEqual([
        expect.objectContaining({ name, state: "Open" })
      ])

      const reset = await cli(["reset", name, "--redis", redis.url, "--json"])
      expect(reset.code).toBe(0)
      expect(JSON.parse(reset.stdout)).toEqual({ circuit: name, action: "reset", scope: "cluster" })
      expect(await other.waitFor("Closed", PATIENCE)).toBe("Closed")

      // Isolated: open until released, whatever resetTimeout says.
      expect(await cli(["isolate", name, "--redis", redis.url])).toMatchObject({
        code: 0,
        stdout: "isolated payments (cluster-wide)"
      })
      expect(await other.waitFor("Open", PATIENCE)).toBe("Open")
      expect(await inProcess(["status", "--json", "--redis", redis.url])).toContain('"isolated":1')
      expect((await cli(["release", name, "--redis", redis.url])).code).toBe(0)
      expect(await other.waitFor("Closed", PATIENCE)).toBe("Closed")
    } finally {
      await other.stop()
    }
  }, 180_000)

  it("an unknown circuit: exit 1 with one line", async () => {
    const result = await cli(["trip", "no-such-circuit", "--redis", redis.url])
    expect(result.code).toBe(1)
    expect(result.stderr).toBe('no circuit named "no-such-circuit" under this prefix')
  })

  it("bad usage: exit 2 with the reason and the usage", async () => {
    const result = await cli(["trip"])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/^circuit-breaker: trip needs a circuit NAME\n\nUsage: circuit-breaker/)
    // The other cases through the same entry point, in this process (a process costs seconds here).
    for (const args of [
      [],
      ["frobnicate"],
      ["status", "extra"],
      ["status", "--bogus"],
      ["status"],
      ["watch", "--interval", "0", "--redis", "redis://127.0.0.1:1"],
      ["status", "--redis", "localhost:6379"]
    ]) {
      const lines: Array<string> = []
      const code = await main(args, {
        out: (t) => lines.push(t),
        err: (t) => lines.push(t),
        env: {},
        interrupted: new Promise(() => {})
      })
      expect(code, args.join(" ")).toBe(2)
      expect(lines.join("\n")).toMatch(/^circuit-breaker: .+\n\nUsage: circuit-breaker/)
    }
  })

  it("unreachable Redis: a clear message without the password, and exit 1 within 2 s", async () => {
    const closed = `redis://user:hunter2@127.0.0.1:${redis.port + 1}`
    const result = await cli(["status", "--redis", closed])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/^cannot reach Redis at redis:\/\/\*\*\*@127\.0\.0\.1:\d+: connect ECONNREFUSED/)
    expect(result.stderr.split("\n")).toHaveLength(1)
    expect(`${result.stdout}${result.stderr}`).not.toContain("hunter2")
    // The time the CLI itself takes, in this process: a child's start-up on a loaded machine is not its doing.
    // A refused connection, and one that never answers (a listener that accepts and says nothing).
    const silent = createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))
    const lag = monitorEventLoopLag()
    try {
      for (const url of [closed, `redis://127.0.0.1:${(silent.address() as AddressInfo).port}`]) {
        const lines: Array<string> = []
        const started = Date.now()
        const code = await main(["status", "--redis", url], {
          out: (t) => lines.push(t),
          err: (t) => lines.push(t),
          env: {},
          interrupted: new Promise(() => {})
        })
        const ended = Date.now()
        await new Promise((resolve) => setTimeout(resolve, 10))
        expect(code).toBe(1)
        expect(lines.join("\n")).toMatch(/^cannot reach Redis at /)
        expect(ended - started - lag.stalledBetween(started, ended)).toBeLessThan(2000)
      }
    } finally {
      lag.stop()
      silent.close()
    }
  })
})
