import { type ChildProcess, spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import {
  describeWithRedis,
  isProcessAlive,
  layerRedisServer,
  type RedisServer,
  type RedisServerOptions,
  RedisTestServer,
  rawRequest,
  startRedisServer
} from "./utils/RedisServer.js"

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)))

const started: Array<RedisServer> = []

/** Starts a server that is stopped after the test, whatever happens. */
const start = async (options?: RedisServerOptions) => {
  const server = await startRedisServer(options)
  started.push(server)
  return server
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((server) => server.stop()))
})

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Resolves once `pid` is gone (a zombie counts as gone); rejects after `within` ms. */
const waitUntilGone = async (pid: number, within = 3000) => {
  const deadline = Date.now() + within
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still alive after ${within} ms`)
    await sleep(20)
  }
}

const errorCode = (promise: Promise<unknown>) =>
  promise.then(
    () => "resolved",
    (error: NodeJS.ErrnoException) => error.code ?? error.message
  )

describeWithRedis("Redis test harness", () => {
  it("starts a server on a loopback port that answers PING", async () => {
    const server = await start()
    expect(server.host).toBe("127.0.0.1")
    expect(server.port).toBeGreaterThan(0)
    expect(server.port).not.toBe(6379)
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`)
    expect(server.isRunning()).toBe(true)
    expect(isProcessAlive(server.pid)).toBe(true)
    expect(await server.command("PING")).toBe("+PONG")
    expect(await server.command("SET", "greeting", "héllo wörld")).toBe("+OK")
    expect(await server.command("GET", "greeting")).toBe(`$${Buffer.byteLength("héllo wörld")}\r\nhéllo wörld`)
    expect(await server.command("DBSIZE")).toBe(":1")
    expect(await server.command("FLUSHALL")).toBe("+OK")
    expect(await server.command("DBSIZE")).toBe(":0")
    expect(await server.command("GET", "greeting")).toBe("$-1")
    expect(await server.command("SCRIPT", "FLUSH")).toBe("+OK")
    expect(await server.command("CLIENT", "KILL", "TYPE", "pubsub")).toBe(":0")
    expect(await server.command("RPUSH", "list", "a", "bc")).toBe(":2")
    expect(await server.command("LRANGE", "list", "0", "-1")).toBe("*2\r\n$1\r\na\r\n$2\r\nbc")
    // Persistence is off and DEBUG is allowed from loopback.
    expect(await server.command("CONFIG", "GET", "save")).toBe("*2\r\n$4\r\nsave\r\n$0\r\n")
    expect(await server.command("CONFIG", "GET", "appendonly")).toBe("*2\r\n$10\r\nappendonly\r\n$2\r\nno")
    expect(await server.command("DEBUG", "SLEEP", "0")).toBe("+OK")
  })

  it("rejects error replies from command", async () => {
    const server = await start()
    await expect(server.command("NOSUCHCOMMAND")).rejects.toThrow(/unknown command/)
  })

  it("protects a server with a password", async () => {
    const server = await start({ password: "s3cret:@/" })
    expect(server.url).toBe(`redis://:${encodeURIComponent("s3cret:@/")}@127.0.0.1:${server.port}`)
    const [unauthenticated] = await rawRequest(server.port, "PING\r\n")
    expect(unauthenticated).toMatch(/^-NOAUTH/)
    expect(await rawRequest(server.port, "AUTH wrong\r\nPING\r\n", { replies: 2 })).toEqual([
      expect.stringMatching(/^-WRONGPASS/),
      expect.stringMatching(/^-NOAUTH/)
    ])
    expect(await rawRequest(server.port, `AUTH "s3cret:@/"\r\nPING\r\n`, { replies: 2 })).toEqual(["+OK", "+PONG"])
    expect(await server.command("PING")).toBe("+PONG")
  })

  it("freezes and thaws a server", async () => {
    const server = await start()
    server.freeze()
    expect(server.isRunning()).toBe(true)
    const t0 = Date.now()
    expect(await errorCode(rawRequest(server.port, "PING\r\n", { timeout: 200 }))).toBe("ETIMEDOUT")
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190)
    server.thaw()
    expect(await rawRequest(server.port, "PING\r\n", { timeout: 1000 })).toEqual(["+PONG"])
    expect(await server.command("PING")).toBe("+PONG")
  })

  it("kills a server: connections are refused", async () => {
    const server = await start()
    const pid = server.pid
    await server.kill()
    expect(server.isRunning()).toBe(false)
    expect(isProcessAlive(pid)).toBe(false)
    expect(await errorCode(rawRequest(server.port, "PING\r\n"))).toBe("ECONNREFUSED")
    expect(await errorCode(server.command("PING"))).toBe("ECONNREFUSED")
    await server.kill() // no-op once dead
  })

  it("restarts a server empty, on the same port", async () => {
    const server = await start()
    const { port, pid } = server
    expect(await server.command("SET", "before", "1")).toBe("+OK")
    await server.restart()
    expect(server.port).toBe(port)
    expect(server.pid).not.toBe(pid)
    expect(isProcessAlive(pid)).toBe(false)
    expect(server.isRunning()).toBe(true)
    expect(await server.command("DBSIZE")).toBe(":0")
    expect(await server.command("GET", "before")).toBe("$-1")
    // After a kill, too (the outage tests do this), and with a password.
    await server.kill()
    await server.restart()
    expect(server.port).toBe(port)
    expect(await server.command("PING")).toBe("+PONG")

    const secured = await start({ password: "pw" })
    await secured.restart()
    expect(await secured.command("PING")).toBe("+PONG")
    expect((await rawRequest(secured.port, "PING\r\n"))[0]).toMatch(/^-NOAUTH/)
  })

  it("stops idempotently, even a frozen server", async () => {
    const server = await start()
    const pid = server.pid
    server.freeze()
    const t0 = Date.now()
    await Promise.all([server.stop(), server.stop()])
    expect(Date.now() - t0).toBeLessThan(1500) // SIGCONT then SIGTERM: no need for the SIGKILL fallback
    expect(server.isRunning()).toBe(false)
    expect(isProcessAlive(pid)).toBe(false)
    await server.stop()
    await server.kill()
    server.freeze()
    server.thaw()
    expect(await errorCode(rawRequest(server.port, "PING\r\n"))).toBe("ECONNREFUSED")
  })

  it("gives each server its own port and data", async () => {
    const [a, b] = await Promise.all([start(), start()])
    expect(a.port).not.toBe(b.port)
    expect(a.pid).not.toBe(b.pid)
    await a.command("SET", "only-in-a", "1")
    expect(await a.command("DBSIZE")).toBe(":1")
    expect(await b.command("DBSIZE")).toBe(":0")
  })

  describe("no server outlives the process that started it", () => {
    const moduleUrl = pathToFileURL(join(packageDir, "test", "utils", "redisProcess.ts")).href
    // Starts a server and never stops it; then either ends on its own or waits to be killed.
    const script = `
      import { startRedisServer } from ${JSON.stringify(moduleUrl)}
      const server = await startRedisServer()
      process.stdout.write(JSON.stringify({ pid: server.pid, port: server.port }) + "\\n")
      if (process.env.HARNESS_MODE === "wait") setInterval(() => {}, 1000)
    `

    const runChild = (mode: "end" | "wait") => {
      const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        cwd: packageDir,
        env: { ...process.env, HARNESS_MODE: mode },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stderr = ""
      child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once("exit", (code, signal) => resolve({ code, signal }))
      )
      const server = new Promise<{ pid: number; port: number }>((resolve, reject) => {
        let stdout = ""
        child.stdout!.on("data", (chunk: Buffer) => {
          stdout += chunk.toString()
          if (stdout.includes("\n")) resolve(JSON.parse(stdout.slice(0, stdout.indexOf("\n"))))
        })
        void exited.then(() => reject(new Error(`child exited before starting a server:\n${stderr}`)))
      })
      return { child, exited, server }
    }

    const leftovers: Array<number> = []
    const children: Array<ChildProcess> = []
    afterEach(() => {
      // Only if a test failed half-way: these are processes this test started.
      for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill()
      for (const pid of leftovers.splice(0)) if (isProcessAlive(pid)) process.kill(pid, "SIGKILL")
    })

    it("kills the server when the process exits without stopping it", { timeout: 20_000 }, async () => {
      const run = runChild("end")
      children.push(run.child)
      const { pid, port } = await run.server
      leftovers.push(pid)
      // The server does not keep the process alive...
      expect(await run.exited).toEqual({ code: 0, signal: null })
      // ...and does not outlive it.
      await waitUntilGone(pid)
      expect(await errorCode(rawRequest(port, "PING\r\n"))).toBe("ECONNREFUSED")
    })

    it("kills the server when the process is terminated by SIGTERM", { timeout: 20_000 }, async () => {
      const run = runChild("wait")
      children.push(run.child)
      const { pid, port } = await run.server
      leftovers.push(pid)
      expect(isProcessAlive(pid)).toBe(true)
      expect(await rawRequest(port, "PING\r\n")).toEqual(["+PONG"])
      run.child.kill("SIGTERM")
      // The signal still ends the process, as by default.
      expect(await run.exited).toEqual({ code: null, signal: "SIGTERM" })
      await waitUntilGone(pid)
      expect(await errorCode(rawRequest(port, "PING\r\n"))).toBe("ECONNREFUSED")
    })
  })

  describe("layerRedisServer", () => {
    let pid: number | undefined
    afterAll(() => {
      expect(pid).toBeTypeOf("number")
      expect(isProcessAlive(pid!)).toBe(false)
    })

    it.layer(layerRedisServer({ password: "pw" }))((it) => {
      it.effect("provides a running server, stopped when the layer is released", () =>
        Effect.gen(function* () {
          const server = yield* RedisTestServer
          pid = server.pid
          expect(server.url).toBe(`redis://:pw@127.0.0.1:${server.port}`)
          expect(yield* Effect.promise(() => server.command("PING"))).toBe("+PONG")
        })
      )
    })
  })
})
