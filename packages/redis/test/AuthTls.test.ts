/**
 * Authentication and TLS, end to end against real redis-server processes: a `requirepass` password, ACL users (with
 * the `default` user off) and TLS-only servers (`rediss://`, throwaway CA), through the URL, the ioredis options,
 * `layerConfig` (REDIS_URL) and the Promise API. A wrong password never hangs anything and never shows in an error or
 * a log line.
 */
import { inspect } from "node:util"
import { CircuitBreaker, CircuitBreakerStore } from "@circuit-breaker/core"
import { CircuitOpenError, createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { RedisCircuitBreakerStore } from "../src/index.js"
import { monitorEventLoopLag } from "./utils/busyMachine.js"
import { describeWithRedis, describeWithRedisTls, type RedisServer, startRedisServer } from "./utils/RedisServer.js"

// Passwords with characters a URL must encode, so that decoding is tested too.
const PASSWORD = "s3cret:Pa55@word/%"
const ALICE_PASSWORD = "alice-Pa55:w@rd"
const WRONG = "wrong-Pa55word"
/** Every secret of this file: none may show in an error or a log line. */
const SECRETS = [PASSWORD, ALICE_PASSWORD, WRONG, "rotated-Pa55word", "admin-Pa55word"]

const enc = encodeURIComponent

let circuits = 0
/** A circuit name of its own for each use: the servers are shared by the tests of a suite. */
const freshName = (label: string) => `${label}-${++circuits}-${Math.random().toString(36).slice(2, 8)}`

/** Waits, in real time, until `check` holds (at most `within` ms); fails the test otherwise. */
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, within = 3000) =>
  Effect.gen(function* () {
    const start = Date.now()
    while (Date.now() - start < within) {
      if (yield* check) return Date.now() - start
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
    }
    return yield* Effect.die(new Error(`condition not met within ${within} ms`))
  })

const eventuallyAsync = async (check: () => boolean | Promise<boolean>, within = 3000): Promise<void> => {
  const start = Date.now()
  while (Date.now() - start < within) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error(`condition not met within ${within} ms`)
}

/** Everything a thrown or failed value can print: message, JSON, `util.inspect`, own properties. */
const renderings = (value: unknown): string => {
  const parts = [String(value), inspect(value, { depth: 8, showHidden: true, getters: true })]
  try {
    parts.push(JSON.stringify(value) ?? "")
  } catch {
    // circular: inspect has it
  }
  if (value instanceof Error) parts.push(value.message, value.stack ?? "")
  return parts.join("\n")
}

const expectNoSecret = (text: string) => {
  for (const secret of SECRETS) {
    expect(text).not.toContain(secret)
    expect(text).not.toContain(enc(secret))
  }
}

/** Collects every log line (message, annotations, cause) of the effects it is provided to. */
const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make((options) => {
    lines.push(Logger.stringLogger.log(options))
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

type Options = RedisCircuitBreakerStore.Options

/** A store with short intervals, closed with the current scope. */
/** Tests about timeouts set `storeTimeout`; the others get one a loaded machine does not reach. */
const storeWith = (options: Options) =>
  RedisCircuitBreakerStore.make({ flushInterval: 20, syncInterval: 200, storeTimeout: 2_000, ...options })

const breakerOn = (store: CircuitBreakerStore.Store, name: string) =>
  CircuitBreaker.make({ name, failureThreshold: 1, maxRetries: 0, timeout: false, resetTimeout: "1 minute" }).pipe(
    Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store)
  )

const stateOf = (breaker: CircuitBreaker.CircuitBreaker) => Effect.map(breaker.state, (s) => s._tag)

const fail = Effect.fail("service down")

/** Resolves once a read through `store` reached Redis. */
const whenReachable = (store: CircuitBreakerStore.Store) =>
  eventually(Effect.map(Effect.either(store.get(freshName("probe"))), Either.isRight))

/**
 * Opens a store with each of `first` and `second`, both on one circuit: a trip through the first reaches the second
 * (so both authenticated and share the server), and Redis holds it.
 */
const expectSharedTrip = (first: Options, second: Options) =>
  Effect.scoped(
    Effect.gen(function* () {
      const name = freshName("shared")
      const [a, b] = yield* Effect.all([storeWith(first), storeWith(second)])
      yield* whenReachable(a)
      yield* whenReachable(b)
      const [ba, bb] = yield* Effect.all([breakerOn(a, name), breakerOn(b, name)])
      // Both follow the circuit from now on.
      expect(yield* stateOf(ba)).toBe("Closed")
      expect(yield* stateOf(bb)).toBe("Closed")
      yield* Effect.exit(ba.execute(fail))
      expect(yield* stateOf(ba)).toBe("Open")
      yield* eventually(Effect.map(stateOf(bb), (s) => s === "Open"))
      const rejected = yield* Effect.flip(bb.execute(Effect.succeed(1)))
      expect(rejected._tag).toBe("CircuitOpenError")
      const snapshot = yield* b.snapshot(name)
      expect(Option.map(snapshot, (s) => s.state._tag)).toEqual(Option.some("Open"))
      expect(a.isHealthy() && b.isHealthy()).toBe(true)
    })
  )

/** The ACL user of every connection to `server` (from CLIENT LIST), the harness's own excepted. */
const connectedUsers = async (server: RedisServer): Promise<Array<string>> => {
  const list = await server.command("CLIENT", "LIST")
  return list
    .split("\n")
    .filter((line) => line.includes(" addr=") && !line.includes(" cmd=client|list "))
    .map((line) => /\buser=(\S+)/.exec(line)?.[1] ?? "?")
}

/** Runs `f` with a scope it may close itself (to time it); closed in any case when `f` ends. */
const withScope = <A, E, R>(f: (scope: Scope.CloseableScope) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(Scope.make(), (scope) => Effect.ensuring(f(scope), Scope.close(scope, Exit.void)))

/**
 * With a wrong password (or user): building the store is immediate, a command fails within the store timeout, a
 * breaker on it still opens on local state, closing is bounded, and no secret shows in the error or the logs.
 */
const expectWrongCredentialsHandled = (options: Options) =>
  withScope((scope) =>
    Effect.gen(function* () {
      // Bounds count the time this process could run (see busyMachine.ts).
      const lag = monitorEventLoopLag()
      yield* Effect.addFinalizer(() => Effect.sync(() => lag.stop())).pipe(Scope.extend(scope))
      const logs = captureLogs()
      const t0 = Date.now()
      const store = yield* storeWith({ storeTimeout: 200, ...options }).pipe(
        Scope.extend(scope),
        Effect.provide(logs.layer)
      )
      expect(yield* lag.running(t0, Date.now())).toBeLessThan(500)
      // Let ioredis try (and fail) to authenticate a few times.
      yield* Effect.sleep("150 millis")
      const t1 = Date.now()
      const error = yield* Effect.flip(store.get(freshName("wrong")))
      expect(yield* lag.running(t1, Date.now())).toBeLessThan(700)
      expect(error._tag).toBe("CircuitStoreError")
      expect(store.isHealthy()).toBe(false)
      const name = freshName("local")
      const breaker = yield* breakerOn(store, name).pipe(Effect.provide(logs.layer))
      expect(yield* Effect.flip(breaker.execute(fail))).toBe("service down")
      expect(yield* stateOf(breaker)).toBe("Open")
      expect((yield* Effect.flip(breaker.execute(Effect.succeed(1))))._tag).toBe("CircuitOpenError")
      const t2 = Date.now()
      yield* Scope.close(scope, Exit.void)
      expect(yield* lag.running(t2, Date.now())).toBeLessThan(1500)
      expectNoSecret(renderings(error))
      expectNoSecret(logs.lines.join("\n"))
    })
  )

describeWithRedis("AUTH and ACL", () => {
  let passwordServer: RedisServer
  let aclServer: RedisServer
  beforeAll(async () => {
    ;[passwordServer, aclServer] = await Promise.all([
      startRedisServer({ password: PASSWORD }),
      startRedisServer({ users: [{ username: "alice", password: ALICE_PASSWORD }], disableDefaultUser: true })
    ])
  })
  afterAll(async () => {
    await Promise.all([passwordServer?.stop(), aclServer?.stop()])
  })

  const passwordUrl = () => `redis://:${enc(PASSWORD)}@127.0.0.1:${passwordServer.port}`
  const aliceUrl = (password = ALICE_PASSWORD) => `redis://alice:${enc(password)}@127.0.0.1:${aclServer.port}`

  describe("a requirepass password", () => {
    it.live("through the URL and through the options: one shared circuit", () =>
      Effect.gen(function* () {
        expect(passwordServer.url).toBe(passwordUrl())
        yield* expectSharedTrip(
          { url: passwordUrl() },
          { redis: { host: "127.0.0.1", port: passwordServer.port, password: PASSWORD } }
        )
        // And the other way round.
        yield* expectSharedTrip(
          { redis: { host: "127.0.0.1", port: passwordServer.port, password: PASSWORD } },
          {
            url: passwordUrl()
          }
        )
      })
    )

    it.live("a wrong password in the URL", () =>
      expectWrongCredentialsHandled({ url: `redis://:${enc(WRONG)}@127.0.0.1:${passwordServer.port}` })
    )

    it.live("a wrong password in the options", () =>
      expectWrongCredentialsHandled({ redis: { host: "127.0.0.1", port: passwordServer.port, password: WRONG } })
    )

    it.live("no password at all", () =>
      expectWrongCredentialsHandled({ url: `redis://127.0.0.1:${passwordServer.port}` })
    )
  })

  describe("an ACL user and password", () => {
    it.live("through the URL and through the options: one shared circuit, as that user", () =>
      Effect.gen(function* () {
        expect(aclServer.url).toBe(aliceUrl())
        yield* expectSharedTrip(
          { url: aliceUrl() },
          { redis: { host: "127.0.0.1", port: aclServer.port, username: "alice", password: ALICE_PASSWORD } }
        )
      })
    )

    it.live("every connection of the store (commands and subscriber) is the URL's user", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const before = yield* Effect.promise(() => connectedUsers(aclServer))
          const store = yield* storeWith({ url: aliceUrl() })
          yield* whenReachable(store)
          const after = yield* Effect.promise(() => connectedUsers(aclServer))
          // `default` is off: a connection that dropped the username could not have authenticated at all.
          expect(after.length).toBeGreaterThanOrEqual(before.length + 2)
          expect(after.every((user) => user === "alice")).toBe(true)
        })
      )
    )

    it.live("a wrong password for the user", () => expectWrongCredentialsHandled({ url: aliceUrl(WRONG) }))

    it.live("an unknown user, in the options", () =>
      expectWrongCredentialsHandled({
        redis: { host: "127.0.0.1", port: aclServer.port, username: "mallory", password: ALICE_PASSWORD }
      })
    )

    it.live("the right password without the user (the default user is off)", () =>
      expectWrongCredentialsHandled({ redis: { host: "127.0.0.1", port: aclServer.port, password: ALICE_PASSWORD } })
    )

    it.live("a password rotated on the server: unreachable (logged, no secret), and shared again once it is back", () =>
      withScope((scope) =>
        Effect.gen(function* () {
          const server = yield* Effect.acquireRelease(
            Effect.promise(() =>
              startRedisServer({
                users: [
                  { username: "admin", password: "admin-Pa55word" },
                  { username: "alice", password: ALICE_PASSWORD }
                ],
                disableDefaultUser: true
              })
            ),
            (server) => Effect.promise(() => server.stop())
          ).pipe(Scope.extend(scope))
          const logs = captureLogs()
          const url = `redis://alice:${enc(ALICE_PASSWORD)}@127.0.0.1:${server.port}`
          const store = yield* storeWith({ url, storeTimeout: 200 }).pipe(
            Scope.extend(scope),
            Effect.provide(logs.layer)
          )
          yield* whenReachable(store)
          yield* Effect.promise(async () => {
            await server.command("ACL", "SETUSER", "alice", "resetpass", ">rotated-Pa55word")
            await server.command("CLIENT", "KILL", "USER", "alice")
          })
          yield* eventually(Effect.sync(() => !store.isHealthy()))
          // It stays unreachable: every reconnection is refused (WRONGPASS).
          yield* Effect.sleep("300 millis")
          const error = yield* Effect.flip(store.get(freshName("rotated")))
          expect(store.isHealthy()).toBe(false)
          yield* eventually(Effect.sync(() => logs.lines.some((line) => line.includes("Redis unreachable"))))
          // The old password is valid again: a reconnection succeeds (within the 2 s retry backoff).
          yield* Effect.promise(() => server.command("ACL", "SETUSER", "alice", "resetpass", `>${ALICE_PASSWORD}`))
          yield* whenReachable(store).pipe(
            Effect.zipRight(
              eventually(
                Effect.sync(() => store.isHealthy()),
                4000
              )
            )
          )
          expectNoSecret(renderings(error))
          expectNoSecret(logs.lines.join("\n"))
        })
      )
    )
  })

  describe("layerConfig (REDIS_URL) with credentials, and malformed URLs", () => {
    /** Builds `layerConfig` with `REDIS_URL` set to `url`, in `scope`, logging into `logs`. */
    const buildLayerConfig = (url: string, scope: Scope.Scope, logs: ReturnType<typeof captureLogs>) =>
      Layer.buildWithScope(
        RedisCircuitBreakerStore.layerConfig({ flushInterval: 20, syncInterval: 200, storeTimeout: 200 }).pipe(
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["REDIS_URL", url]]))))
        ),
        scope
      ).pipe(
        Effect.map((context) => Context.get(context, CircuitBreakerStore.CircuitBreakerStore)),
        Effect.provide(logs.layer)
      )

    it.live("with the right user and password: it works", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const logs = captureLogs()
          const store = yield* buildLayerConfig(aliceUrl(), yield* Effect.scope, logs)
          yield* whenReachable(store)
          const other = yield* storeWith({ url: aliceUrl() })
          const name = freshName("config")
          const [mine, theirs] = yield* Effect.all([breakerOn(store, name), breakerOn(other, name)])
          yield* stateOf(theirs)
          yield* whenReachable(other)
          yield* Effect.exit(mine.execute(fail))
          yield* eventually(Effect.map(stateOf(theirs), (s) => s === "Open"))
          expectNoSecret(logs.lines.join("\n"))
        })
      )
    )

    it.live("with a wrong password: bounded, local decisions, and no secret in errors or logs", () =>
      withScope((scope) =>
        Effect.gen(function* () {
          const lag = monitorEventLoopLag()
          yield* Effect.addFinalizer(() => Effect.sync(() => lag.stop())).pipe(Scope.extend(scope))
          const logs = captureLogs()
          const t0 = Date.now()
          const store = yield* buildLayerConfig(aliceUrl(WRONG), scope, logs)
          expect(yield* lag.running(t0, Date.now())).toBeLessThan(500)
          const error = yield* Effect.flip(store.get(freshName("config-wrong")))
          expect(error._tag).toBe("CircuitStoreError")
          const breaker = yield* breakerOn(store, freshName("config-local"))
          yield* Effect.exit(breaker.execute(fail))
          expect(yield* stateOf(breaker)).toBe("Open")
          yield* Scope.close(scope, Exit.void)
          expectNoSecret(renderings(error))
          expectNoSecret(logs.lines.join("\n"))
        })
      )
    )

    it.live("with a malformed URL holding a password: a ConfigError that does not show it", () =>
      Effect.gen(function* () {
        const logs = captureLogs()
        const scope = yield* Scope.make()
        // Port out of range: the URL cannot be parsed (ioredis would throw, the URL in the error's `input`).
        const exit = yield* Effect.exit(
          buildLayerConfig(`redis://alice:${enc(ALICE_PASSWORD)}@127.0.0.1:99999`, scope, logs)
        )
        yield* Scope.close(scope, Exit.void)
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) {
          const failure = Cause.failureOption(exit.cause)
          expect(Option.map(failure, (error) => error._op)).toEqual(Option.some("InvalidData"))
          expect(Option.map(failure, String)).toEqual(Option.some(expect.stringContaining("REDIS_URL")))
          expectNoSecret(`${Cause.pretty(exit.cause)}\n${renderings(Cause.squash(exit.cause))}`)
        }
        expectNoSecret(logs.lines.join("\n"))
      })
    )

    it.live("make with a malformed URL holding a password: a defect that does not show it", () =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(
          Effect.scoped(storeWith({ url: `rediss://alice:${enc(ALICE_PASSWORD)}@127.0.0.1:99999` }))
        )
        expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
        if (Exit.isFailure(exit)) {
          expect(String(Cause.squash(exit.cause))).toContain("not a valid redis:// or rediss:// URL")
          expectNoSecret(`${Cause.pretty(exit.cause)}\n${renderings(Cause.squash(exit.cause))}`)
        }
      })
    )
  })

  describe("the Promise API", () => {
    /** Captures everything written to the console meanwhile. */
    const consoleOutput: Array<string> = []
    beforeAll(() => {
      for (const method of ["log", "info", "warn", "error", "debug"] as const) {
        vi.spyOn(console, method).mockImplementation((...args: Array<unknown>) => {
          consoleOutput.push(args.map((arg) => renderings(arg)).join(" "))
        })
      }
      // The Promise API reports a store it could not open as a process warning.
      vi.spyOn(process, "emitWarning").mockImplementation((...args: Array<unknown>) => {
        consoleOutput.push(args.map((arg) => renderings(arg)).join(" "))
      })
    })
    afterEach(() => {
      expectNoSecret(consoleOutput.splice(0).join("\n"))
    })
    afterAll(() => {
      vi.restoreAllMocks()
    })

    const tripIsShared = async (first: unknown, second: unknown) => {
      const name = freshName("promise")
      const boom = new Error("card declined")
      // logger: console, so that the store's log lines reach the console (silent by default).
      const options = { distributedTracking: true, failureThreshold: 1, maxRetries: 0, name, logger: console }
      const a = createAdvancedCircuitBreaker(async () => Promise.reject(boom), { ...options, redis: first as never })
      const b = createAdvancedCircuitBreaker(async () => "ok", { ...options, redis: second as never })
      try {
        // The shared store opens in the background; calls before that decide locally.
        await eventuallyAsync(async () => (await a.getDistributedState().catch(() => null)) !== null)
        await eventuallyAsync(async () => (await b.getDistributedState().catch(() => null)) !== null)
        await expect(b.execute()).resolves.toBe("ok")
        await expect(a.execute()).rejects.toBe(boom)
        expect(a.getState()).toBe("OPEN")
        await eventuallyAsync(() => b.getState() === "OPEN")
        await expect(b.execute()).rejects.toBeInstanceOf(CircuitOpenError)
        expect(await b.getDistributedState()).toMatchObject({ circuit: name, state: "OPEN" })
        // The store's log lines reached the console, and were captured (checked for secrets after the test).
        expect(consoleOutput.join("\n")).toContain("Redis reachable")
      } finally {
        await a.dispose()
        await b.dispose()
      }
    }

    it("a requirepass password, through the URL and the options", async () => {
      await tripIsShared(passwordUrl(), { host: "127.0.0.1", port: passwordServer.port, password: PASSWORD })
    })

    it("an ACL user and password, through the URL and the options", async () => {
      await tripIsShared(aliceUrl(), {
        host: "127.0.0.1",
        port: aclServer.port,
        username: "alice",
        password: ALICE_PASSWORD
      })
    })

    it("a malformed URL holding a password: the rejection does not show it, calls go on locally", async () => {
      const breaker = createAdvancedCircuitBreaker(async () => "ok", {
        name: "malformed-url",
        distributedTracking: true,
        redis: `redis://alice:${enc(ALICE_PASSWORD)}@127.0.0.1:99999`
      })
      try {
        const error = await breaker.getDistributedState().then(
          () => undefined,
          (e: unknown) => e
        )
        expect(error).toBeDefined()
        expectNoSecret(renderings(error))
        await expect(breaker.execute()).resolves.toBe("ok")
        expect(consoleOutput.join("\n")).toContain("could not be opened")
      } finally {
        await breaker.dispose()
      }
    })

    it("a wrong password: bounded rejection, local decisions, no secret in the error", async () => {
      for (const redis of [
        aliceUrl(WRONG),
        { host: "127.0.0.1", port: aclServer.port, username: "alice", password: WRONG }
      ]) {
        const breaker = createAdvancedCircuitBreaker(async () => Promise.reject(new Error("down")), {
          name: "wrong-password",
          distributedTracking: true,
          redis: redis as never,
          failureThreshold: 1,
          maxRetries: 0
        })
        const lag = monitorEventLoopLag()
        try {
          const t0 = Date.now()
          const error = await breaker.getDistributedState().then(
            () => undefined,
            (e: unknown) => e
          )
          expect(await lag.runningSince(t0)).toBeLessThan(1000)
          expect(error).toMatchObject({ _tag: "CircuitStoreError" })
          expectNoSecret(renderings(error))
          await expect(breaker.execute()).rejects.toThrow("down")
          expect(breaker.getState()).toBe("OPEN")
          await expect(breaker.execute()).rejects.toBeInstanceOf(CircuitOpenError)
        } finally {
          const t1 = Date.now()
          await breaker.dispose()
          const closing = await lag.runningSince(t1)
          lag.stop()
          expect(closing).toBeLessThan(1500)
        }
      }
    })
  })
})

await describeWithRedisTls("TLS (rediss://)", () => {
  let tlsServer: RedisServer
  let tlsAclServer: RedisServer
  let mutualServer: RedisServer
  beforeAll(async () => {
    ;[tlsServer, tlsAclServer, mutualServer] = await Promise.all([
      startRedisServer({ tls: true }),
      startRedisServer({
        tls: true,
        users: [{ username: "alice", password: ALICE_PASSWORD }],
        disableDefaultUser: true
      }),
      startRedisServer({ tls: { authClients: "yes" }, password: PASSWORD })
    ])
  })
  afterAll(async () => {
    await Promise.all([tlsServer?.stop(), tlsAclServer?.stop(), mutualServer?.stop()])
  })

  it.live("the CA through the options: rediss:// URL and host/port options share one circuit", () =>
    Effect.gen(function* () {
      const ca = tlsServer.tls!.ca
      expect(tlsServer.url).toBe(`rediss://127.0.0.1:${tlsServer.port}`)
      yield* expectSharedTrip(
        { url: tlsServer.url, redis: { tls: { ca } } },
        { redis: { host: "127.0.0.1", port: tlsServer.port, tls: { ca } } }
      )
      // By name, too: the certificate is for localhost as well.
      yield* expectSharedTrip(
        { url: `rediss://localhost:${tlsServer.port}`, redis: { tls: { ca, servername: "localhost" } } },
        { url: tlsServer.url, redis: { tls: { ca } } }
      )
    })
  )

  it.live("a TLS socket that reports a second error (an alert read after a reset) leaves it unhandled nowhere", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const store = yield* storeWith({ url: tlsServer.url, redis: { tls: { ca: tlsServer.tls!.ca } } })
        yield* whenReachable(store)
        const connection = (store as any).store.connection
        const secondErrors = () => {
          for (const redis of [connection.client, connection.subscriber]) {
            const socket = redis.stream
            expect(socket).toBeDefined()
            // ioredis listens for one error of a socket; the second would be an uncaught exception.
            socket.emit("error", new Error("read ECONNRESET"))
            socket.emit("error", new Error("tlsv1 alert decode error"))
          }
        }
        expect(secondErrors).not.toThrow()
        // The sockets made on reconnecting too.
        connection.client.disconnect(true)
        connection.subscriber.disconnect(true)
        yield* eventually(
          Effect.sync(() => connection.client.status === "ready" && connection.subscriber.status === "ready")
        )
        expect(secondErrors).not.toThrow()
      })
    )
  )

  it.live("TLS and an ACL user together, through the URL and through the options", () =>
    Effect.gen(function* () {
      const ca = tlsAclServer.tls!.ca
      const url = `rediss://alice:${enc(ALICE_PASSWORD)}@127.0.0.1:${tlsAclServer.port}`
      expect(tlsAclServer.url).toBe(url)
      yield* expectSharedTrip(
        { url, redis: { tls: { ca } } },
        {
          redis: {
            host: "127.0.0.1",
            port: tlsAclServer.port,
            username: "alice",
            password: ALICE_PASSWORD,
            tls: { ca }
          }
        }
      )
      const users = yield* Effect.promise(() => connectedUsers(tlsAclServer))
      expect(users.every((user) => user === "alice")).toBe(true)
    })
  )

  it.live("client certificates (tls-auth-clients yes) with a password", () =>
    Effect.gen(function* () {
      const { ca, clientCert, clientKey } = mutualServer.tls!
      const tls = { ca, cert: clientCert, key: clientKey }
      yield* expectSharedTrip(
        { url: `rediss://:${enc(PASSWORD)}@127.0.0.1:${mutualServer.port}`, redis: { tls } },
        { redis: { host: "127.0.0.1", port: mutualServer.port, password: PASSWORD, tls } }
      )
      // Without the client certificate the handshake fails: handled like any unreachable Redis.
      yield* expectWrongCredentialsHandled({
        url: `rediss://:${enc(PASSWORD)}@127.0.0.1:${mutualServer.port}`,
        redis: { tls: { ca } }
      })
    })
  )

  it.live("an untrusted server certificate, a plain connection to a TLS port, a wrong password over TLS", () =>
    Effect.gen(function* () {
      // No CA: the system's roots do not trust the throwaway CA.
      yield* expectWrongCredentialsHandled({
        url: `rediss://alice:${enc(ALICE_PASSWORD)}@127.0.0.1:${tlsAclServer.port}`
      })
      yield* expectWrongCredentialsHandled({
        url: `redis://alice:${enc(ALICE_PASSWORD)}@127.0.0.1:${tlsAclServer.port}`
      })
      yield* expectWrongCredentialsHandled({
        url: `rediss://alice:${enc(WRONG)}@127.0.0.1:${tlsAclServer.port}`,
        redis: { tls: { ca: tlsAclServer.tls!.ca } }
      })
    })
  )

  it.live("layerConfig: REDIS_URL with rediss:// and credentials, the CA through the options", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const logs = captureLogs()
        const context = yield* Layer.buildWithScope(
          RedisCircuitBreakerStore.layerConfig({
            redis: { tls: { ca: tlsAclServer.tls!.ca } },
            flushInterval: 20
          }).pipe(
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["REDIS_URL", tlsAclServer.url]]))))
          ),
          yield* Effect.scope
        ).pipe(Effect.provide(logs.layer))
        const store = Context.get(context, CircuitBreakerStore.CircuitBreakerStore)
        yield* whenReachable(store)
        const other = yield* storeWith({ url: tlsAclServer.url, redis: { tls: { ca: tlsAclServer.tls!.ca } } })
        yield* whenReachable(other)
        const name = freshName("tls-config")
        const [mine, theirs] = yield* Effect.all([breakerOn(store, name), breakerOn(other, name)])
        yield* stateOf(theirs)
        yield* Effect.exit(mine.execute(fail))
        yield* eventually(Effect.map(stateOf(theirs), (s) => s === "Open"))
        expectNoSecret(logs.lines.join("\n"))
      })
    )
  )

  it("the Promise API: TLS and an ACL user through ioredis options", async () => {
    const name = freshName("promise-tls")
    const redis = {
      host: "127.0.0.1",
      port: tlsAclServer.port,
      username: "alice",
      password: ALICE_PASSWORD,
      tls: { ca: tlsAclServer.tls!.ca }
    }
    const options = { distributedTracking: true, redis, failureThreshold: 1, maxRetries: 0, name }
    const a = createAdvancedCircuitBreaker(async () => Promise.reject(new Error("down")), options)
    const b = createAdvancedCircuitBreaker(async () => "ok", options)
    try {
      await eventuallyAsync(async () => (await a.getDistributedState().catch(() => null)) !== null)
      await eventuallyAsync(async () => (await b.getDistributedState().catch(() => null)) !== null)
      await expect(b.execute()).resolves.toBe("ok")
      await expect(a.execute()).rejects.toThrow("down")
      await eventuallyAsync(() => b.getState() === "OPEN")
      // a and b share one store (one options object): b sees the trip before its write lands in Redis.
      await eventuallyAsync(async () => (await a.getDistributedState())?.state === "OPEN")
      expect(await a.getDistributedState()).toMatchObject({ circuit: name, state: "OPEN" })
    } finally {
      await a.dispose()
      await b.dispose()
    }
  })
})
