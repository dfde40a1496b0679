import { createServer } from "node:net"
import { CircuitBreaker } from "@circuit-breaker/core"
import { CircuitMonitor } from "@circuit-breaker/monitor"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

describe("the Effect API", () => {
  it.scoped("router(): the routes mount in an HttpRouter of your own", () =>
    Effect.gen(function* () {
      const name = `mounted-${process.pid}`
      yield* CircuitBreaker.make({ name })
      const routes = yield* CircuitMonitor.router()
      const app = HttpRouter.empty.pipe(
        HttpRouter.get("/health", HttpServerResponse.text("ok")),
        HttpRouter.mount("/breakers", routes)
      )
      const handler = HttpApp.toWebHandler(app)
      const metrics = yield* Effect.promise(() => handler(new Request("http://app.test/breakers/metrics")))
      expect(metrics.status).toBe(200)
      expect(yield* Effect.promise(() => metrics.text())).toContain(`circuit_breaker_state{circuit="${name}"} 0`)
      const trip = yield* Effect.promise(() =>
        handler(new Request(`http://app.test/breakers/circuits/${name}/trip`, { method: "POST" }))
      )
      expect(trip.status).toBe(200)
    })
  )

  it("layer(): serves for as long as the layer lives", async () => {
    const port = await freePort()
    const served = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Layer.build(CircuitMonitor.layer({ port }))
          const response = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/circuits`))
          return response.status
        })
      )
    )
    expect(served).toBe(200)
    await expect(fetch(`http://127.0.0.1:${port}/circuits`)).rejects.toThrow()
  })
})
