import { type ChildProcess, spawn } from "node:child_process"
import { X509Certificate } from "node:crypto"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { monitorEventLoopLag } from "./utils/busyMachine.js"
import {
  describeWithRedis,
  describeWithRedisTls,
  encodeCommand,
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

  it("serves ACL users, with the default user off", async () => {
    const password = "s3cret:@/"
    const server = await start({
      users: [
        { username: "alice", password },
        { username: "reader", password: "r", rules: ["~*", "+get", "+ping"] }
      ],
      disableDefaultUser: true
    })
    // The harness authenticates as the first user.
    expect(server.url).toBe(`redis://alice:${encodeURIComponent(password)}@127.0.0.1:${server.port}`)
    expect(server.tls).toBeUndefined()
    expect(await server.command("ACL", "WHOAMI")).toBe("$5\r\nalice")
    expect((await rawRequest(server.port, "PING\r\n"))[0]).toMatch(/^-NOAUTH/)
    // The default user is off: a password alone (and any password for it) is refused.
    expect((await rawRequest(server.port, encodeCommand(["AUTH", password])))[0]).toMatch(/^-WRONGPASS/)
    expect((await rawRequest(server.port, encodeCommand(["AUTH", "alice", "wrong"])))[0]).toMatch(/^-WRONGPASS/)
    expect(
      await rawRequest(server.port, `${encodeCommand(["AUTH", "alice", password])}PING\r\n`, { replies: 2 })
    ).toEqual(["+OK", "+PONG"])
    // Rules apply.
    expect(
      await rawRequest(server.port, `${encodeCommand(["AUTH", "reader", "r"])}GET k\r\nSET k v\r\n`, { replies: 3 })
    ).toEqual(["+OK", "$-1", expect.stringMatching(/^-NOPERM/)])
    // A restart keeps the users.
    await server.restart()
    expect(await server.command("ACL", "WHOAMI")).toBe("$5\r\nalice")
    expect((await rawRequest(server.port, "PING\r\n"))[0]).toMatch(/^-NOAUTH/)
  })

  it("serves ACL users alongside a password for the default user", async () => {
    const server = await start({ password: "pw", users: [{ username: "alice", password: "secret" }] })
    expect(server.url).toBe(`redis://:pw@127.0.0.1:${server.port}`)
    expect(await server.command("ACL", "WHOAMI")).toBe("$7\r\ndefault")
    expect(await rawRequest(server.port, "AUTH alice secret\r\nACL WHOAMI\r\n", { replies: 2 })).toEqual([
      "+OK",
      "$5\r\nalice"
    ])
    expect((await rawRequest(server.port, "AUTH alice pw\r\n"))[0]).toMatch(/^-WRONGPASS/)
  })

  it("rejects startup options that lock the harness out", async () => {
    await expect(startRedisServer({ disableDefaultUser: true })).rejects.toThrow(/needs users/)
    await expect(
      startRedisServer({ disableDefaultUser: true, password: "pw", users: [{ username: "a", password: "b" }] })
    ).rejects.toThrow(/cannot be combined/)
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
    // Counting the time this process could run (see busyMachine.ts).
    const lag = monitorEventLoopLag()
    const t0 = Date.now()
    await Promise.all([server.stop(), server.stop()])
    const stopping = await lag.runningSince(t0)
    lag.stop()
    expect(stopping).toBeLessThan(1500) // SIGCONT then SIGTERM: no need for the SIGKILL fallback
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
      // Nothing answers there any more; on a busy machine another process may bind the freed port at once (and reset).
      expect(["ECONNREFUSED", "ECONNRESET"]).toContain(await errorCode(rawRequest(port, "PING\r\n")))
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

await describeWithRedisTls("Redis test harness: TLS", () => {
  /** The path redis-server was given for a TLS file. */
  const configuredPath = async (server: RedisServer, parameter: string) =>
    (await server.command("CONFIG", "GET", parameter)).split("\r\n").at(-1)!

  it("makes a CA and a server certificate for 127.0.0.1 and localhost, and a client certificate", async () => {
    const server = await start({ tls: true })
    const certificates = server.tls!
    const ca = new X509Certificate(certificates.ca)
    const cert = new X509Certificate(certificates.serverCert)
    expect(ca.ca).toBe(true)
    expect(cert.ca).toBe(false)
    expect(cert.checkIssued(ca)).toBe(true)
    expect(cert.verify(ca.publicKey)).toBe(true)
    expect(cert.subjectAltName).toContain("IP Address:127.0.0.1")
    expect(cert.subjectAltName).toContain("DNS:localhost")
    expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1")
    expect(cert.checkHost("localhost")).toBe("localhost")
    expect(new X509Certificate(certificates.clientCert).checkIssued(ca)).toBe(true)
    // The same throwaway CA for every server of the process.
    const other = await start({ tls: true })
    expect(other.tls!.ca).toBe(certificates.ca)
  })

  it("serves TLS only, on the port given, with the certificate files gone once it started", async () => {
    const server = await start({ tls: true })
    expect(server.url).toBe(`rediss://127.0.0.1:${server.port}`)
    expect(await server.command("PING")).toBe("+PONG")
    expect(await rawRequest(server.port, "PING\r\n", { tls: { ca: server.tls!.ca } })).toEqual(["+PONG"])
    expect(await rawRequest(server.port, "PING\r\n", { tls: { ca: server.tls!.ca, servername: "localhost" } })).toEqual(
      ["+PONG"]
    )
    expect(await server.command("CONFIG", "GET", "port")).toBe("*2\r\n$4\r\nport\r\n$1\r\n0")
    expect(await server.command("CONFIG", "GET", "tls-auth-clients")).toBe("*2\r\n$16\r\ntls-auth-clients\r\n$2\r\nno")
    // Plain TCP gets no answer, nor does TLS that does not trust the test CA.
    await expect(rawRequest(server.port, "PING\r\n", { timeout: 1000 })).rejects.toThrow()
    expect(await errorCode(rawRequest(server.port, "PING\r\n", { tls: {} }))).toMatch(
      /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT/
    )
    for (const parameter of ["tls-cert-file", "tls-key-file", "tls-ca-cert-file"]) {
      const path = await configuredPath(server, parameter)
      expect(path).not.toBe("")
      expect(existsSync(dirname(path))).toBe(false)
    }
    // A restart writes them again for the new process, and removes them again.
    const pid = server.pid
    await server.restart()
    expect(server.pid).not.toBe(pid)
    expect(await server.command("PING")).toBe("+PONG")
    expect(existsSync(dirname(await configuredPath(server, "tls-cert-file")))).toBe(false)
  })

  it("asks for client certificates with authClients: yes, and combines with ACL users", async () => {
    const server = await start({
      tls: { authClients: "yes" },
      users: [{ username: "alice", password: "secret" }],
      disableDefaultUser: true
    })
    expect(server.url).toBe(`rediss://alice:secret@127.0.0.1:${server.port}`)
    expect(await server.command("ACL", "WHOAMI")).toBe("$5\r\nalice")
    const { ca, clientCert, clientKey } = server.tls!
    await expect(rawRequest(server.port, "PING\r\n", { tls: { ca }, timeout: 1000 })).rejects.toThrow()
    expect(
      await rawRequest(server.port, "AUTH alice secret\r\nPING\r\n", {
        replies: 2,
        tls: { ca, cert: clientCert, key: clientKey }
      })
    ).toEqual(["+OK", "+PONG"])
    expect((await rawRequest(server.port, "PING\r\n", { tls: { ca, cert: clientCert, key: clientKey } }))[0]).toMatch(
      /^-NOAUTH/
    )
  })
})
