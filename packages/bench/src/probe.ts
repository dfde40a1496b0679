import { CircuitBreaker } from "@circuit-breaker/core"
import * as Effect from "effect/Effect"
const b = Effect.runSync(CircuitBreaker.make({ name: "x" }))
console.log(b.name, process.getActiveResourcesInfo())
