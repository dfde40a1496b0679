import { CircuitBreaker, CircuitBreakerMetrics, LiveCircuits } from "@circuit-breaker/core"
import { createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { down } from "./utils/errors.js"
import { handlerOf } from "./utils/http.js"

let serial = 0
const unique = (label: string) => `routes-${label}-${process.pid}-${++serial}`

const effectBreaker = (name: string) =>
  Effect.runSync(CircuitBreaker.make({ name, maxRetries: 0, failureThreshold: 3 }))

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(Effect.either(effect))

describe("routes", () => {
  it("GET /metrics exposes breakers of both APIs, made with no glue", async () => {
    const effectName = unique("effect")
    const promiseName = unique("promise")
    const eb = effectBreaker(effectName)
    await run(eb.execute(Effect.succeed(1)))
    await run(eb.execute(Effect.fail(down("down"))))
    const pb = createAdvancedCircuitBreaker(async (n: number) => n, { name: promiseName, maxRetries: 0 })
    await pb.execute(1)
    const response = await handlerOf()("/metrics")
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toContain("text/plain; version=0.0.4")
    const text = await response.text()
    expect(text).toContain("# TYPE circuit_breaker_calls_total counter")
    expect(text).toContain("# TYPE circuit_breaker_call_duration_seconds histogram")
    expect(text).toContain(`circuit_breaker_calls_total{circuit="${effectName}"} 2`)
    expect(text).toContain(`circuit_breaker_failures_total{circuit="${effectName}"} 1`)
    expect(text).toContain(`circuit_breaker_calls_total{circuit="${promiseName}"} 1`)
    expect(text).toContain(`circuit_breaker_call_duration_seconds_count{circuit="${promiseName}"} 1`)
    expect(text).toContain(`circuit_breaker_call_duration_seconds_bucket{circuit="${promiseName}",le="+Inf"} 1`)
    expect(text).toContain(`circuit_breaker_state{circuit="${effectName}"} 0`)
    const untracked = unique("untracked")
    Effect.runSync(CircuitBreaker.make({ name: untracked, metricsTracking: false }))
    const again = await (await handlerOf()("/metrics")).text()
    expect(again).toContain(`circuit_breaker_state{circuit="${untracked}"} 0`)
    expect(again).not.toContain(`circuit_breaker_calls_total{circuit="${untracked}"}`)
    await pb.dispose()
  })

  it("counts transitions tagged from and to, and the state gauge follows", async () => {
    const name = unique("transitions")
    const eb = effectBreaker(name)
    await run(eb.trip)
    await run(eb.reset)
    const text = await (await handlerOf()("/metrics")).text()
    expect(text).toContain(`circuit_breaker_transitions_total{circuit="${name}",from="Closed",to="Open"} 1`)
    expect(text).toContain(`circuit_breaker_transitions_total{circuit="${name}",from="Open",to="Closed"} 1`)
    await run(eb.trip)
    const after = await (await handlerOf()("/metrics")).text()
    expect(after).toContain(`circuit_breaker_state{circuit="${name}"} 2`)
  })

  it("GET /circuits lists every local circuit with state, mode, metrics and last failures", async () => {
    const name = unique("circuits")
    const eb = effectBreaker(name)
    await run(eb.execute(Effect.fail(down("card declined"))))
    const response = await handlerOf()("/circuits")
    expect(response.headers.get("content-type")).toContain("application/json")
    const body = (await response.json()) as { circuits: Array<any>; cluster: unknown }
    const view = body.circuits.find((c) => c.name === name)
    expect(view).toMatchObject({ state: "Closed", mode: "local", apis: ["effect"], breakers: 1 })
    expect(view.metrics).toMatchObject({ totalCalls: 1, failureCalls: 1 })
    expect(view.lastFailures[0].error).toEqual({ name: "ServiceDown", message: "card declined" })
    expect(body.cluster).toBeNull()
    const one = await handlerOf()(`/circuits/${encodeURIComponent(name)}`)
    expect(((await one.json()) as { name: string }).name).toBe(name)
  })

  it("an unknown circuit is a 404 with a JSON error; a malformed request is a 400", async () => {
    const request = handlerOf()
    for (const [path, init] of [
      ["/circuits/no-such-circuit", undefined],
      ["/circuits/no-such-circuit/trip", { method: "POST" }]
    ] as const) {
      const response = await request(path, init)
      expect(response.status).toBe(404)
      expect(await response.json()).toEqual({ error: 'no circuit named "no-such-circuit"' })
    }
    const name = unique("malformed")
    effectBreaker(name)
    for (const [path, init] of [
      [`/circuits/${name}/explode`, { method: "POST" }],
      ["/circuits/%ZZ/trip", { method: "POST" }],
      ["/circuits/a%0Ab/trip", { method: "POST" }],
      [`/circuits/${"x".repeat(600)}`, undefined]
    ] as const) {
      const response = await request(path, init)
      expect(response.status, path).toBe(400)
      expect(((await response.json()) as { error: string }).error).toBeTypeOf("string")
    }
    expect((await request("/no/such/route")).status).toBe(404)
  })

  it("POST trip and reset act on the live breaker, of either API", async () => {
    const name = unique("control")
    const eb = effectBreaker(name)
    const request = handlerOf()
    const tripped = await request(`/circuits/${name}/trip`, { method: "POST" })
    expect(tripped.status).toBe(200)
    expect(await tripped.json()).toEqual({ circuit: name, action: "trip", scope: "process", state: "Open" })
    expect(Effect.runSync(eb.state)._tag).toBe("Open")
    await request(`/circuits/${name}/reset`, { method: "POST" })
    expect(Effect.runSync(eb.state)._tag).toBe("Closed")

    const promiseName = unique("control-promise")
    const pb = createAdvancedCircuitBreaker(
      async () => {
        throw new Error("down")
      },
      { name: promiseName, maxRetries: 0, failureThreshold: 1 }
    )
    await pb.execute().catch(() => undefined)
    expect(pb.getState()).toBe("OPEN")
    expect((await request(`/circuits/${promiseName}/reset`, { method: "POST" })).status).toBe(200)
    expect(pb.getState()).toBe("CLOSED")
    expect((await request(`/circuits/${promiseName}/trip`, { method: "POST" })).status).toBe(200)
    expect(pb.getState()).toBe("OPEN")
    await pb.dispose()
  })

  it("POST isolate holds a live breaker open, of either API, until as many releases", async () => {
    const effectName = unique("isolate-effect")
    const eb = Effect.runSync(CircuitBreaker.make({ name: effectName, resetTimeout: 1 }))
    const promiseName = unique("isolate-promise")
    const pb = createAdvancedCircuitBreaker(async () => 1, { name: promiseName, resetTimeout: 1 })
    const request = handlerOf()
    const post = (name: string, action: string) => request(`/circuits/${name}/${action}`, { method: "POST" })
    for (const name of [effectName, promiseName]) {
      expect((await post(name, "isolate")).status).toBe(200)
      expect((await post(name, "isolate")).status).toBe(200)
    }
    // Past resetTimeout, an isolated circuit stays Open.
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(Effect.runSync(eb.state)._tag).toBe("Open")
    expect(pb.getState()).toBe("OPEN")
    for (const name of [effectName, promiseName]) {
      expect(await (await post(name, "release")).json()).toMatchObject({ action: "release", state: "Open" })
      expect(await (await post(name, "release")).json()).toMatchObject({ action: "release", state: "Closed" })
      expect((await post(name, "release")).status).toBe(409)
    }
    expect(pb.getState()).toBe("CLOSED")
    await pb.dispose()
  })

  describe("the bearer token", () => {
    const token = "s3cret-token-value"
    const routes = [
      ["/", undefined],
      ["/metrics", undefined],
      ["/circuits", undefined],
      ["/events", undefined],
      ["/circuits/anything/trip", { method: "POST" }]
    ] as const

    it("guards every route: 401 without it or with a wrong one, and the secret shows nowhere", async () => {
      const request = handlerOf({ token })
      for (const [path, init] of routes) {
        for (const authorization of [undefined, "Bearer wrong", `Basic ${token}`]) {
          const response = await request(path, {
            ...init,
            headers: authorization === undefined ? {} : { authorization }
          })
          expect(response.status, `${path} ${authorization}`).toBe(401)
          expect(response.headers.get("www-authenticate")).toContain("Bearer")
          const text = await response.text()
          expect(text).not.toContain(token)
          for (const [, value] of response.headers) expect(value).not.toContain(token)
        }
      }
    })

    it("lets a request with the token through", async () => {
      const request = handlerOf({ token })
      const name = unique("token")
      effectBreaker(name)
      const headers = { authorization: `Bearer ${token}` }
      const page = await request("/", { headers })
      expect(page.status).toBe(200)
      expect(await page.text()).not.toContain(token)
      expect((await request("/metrics", { headers })).status).toBe(200)
      expect((await request(`/circuits/${name}/trip`, { method: "POST", headers })).status).toBe(200)
    })

    it("is always required for POST when the server listens beyond loopback", async () => {
      const name = unique("remote")
      const eb = effectBreaker(name)
      const open = handlerOf({ loopback: false })
      expect((await open("/metrics")).status).toBe(200)
      const refused = await open(`/circuits/${name}/trip`, { method: "POST" })
      expect(refused.status).toBe(401)
      expect(Effect.runSync(eb.state)._tag).toBe("Closed")
      const guarded = handlerOf({ loopback: false, token })
      const accepted = await guarded(`/circuits/${name}/trip`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` }
      })
      expect(accepted.status).toBe(200)
      expect(Effect.runSync(eb.state)._tag).toBe("Open")
    })
  })

  it("the dashboard is one self-contained page that fetches nothing from elsewhere", async () => {
    const response = await handlerOf()("/")
    expect(response.headers.get("content-type")).toContain("text/html")
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'")
    const html = await response.text()
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//)
    expect(html).toContain('fetch("events"')
  })

  it("isolate keeps the handle the breaker returns, and release gives back the latest one", async () => {
    const name = unique("isolation")
    const released: Array<number> = []
    let state = "CLOSED"
    let handles = 0
    // A Promise-API breaker as the monitor sees one: isolate() returns a handle with release().
    const breaker = {
      name,
      getState: () => state,
      getMetrics: () => CircuitBreakerMetrics.empty(name, "Closed"),
      reset: async () => {
        state = "CLOSED"
      },
      isolate: () => {
        const id = ++handles
        state = "OPEN"
        return {
          release: () => {
            released.push(id)
            if (released.length === handles) state = "CLOSED"
          }
        }
      }
    }
    LiveCircuits.register(breaker, undefined)
    const request = handlerOf()
    const post = (action: string) => request(`/circuits/${name}/${action}`, { method: "POST" })
    expect((await post("isolate")).status).toBe(200)
    expect(await (await post("isolate")).json()).toMatchObject({ action: "isolate", state: "Open" })
    expect((await post("release")).status).toBe(200)
    expect(released).toEqual([2])
    expect(breaker.getState()).toBe("OPEN")
    expect(await (await post("release")).json()).toMatchObject({ action: "release", state: "Closed" })
    expect(released).toEqual([2, 1])
    expect((await post("release")).status).toBe(409)
    expect((await post("trip")).status).toBe(501)
  })
})
