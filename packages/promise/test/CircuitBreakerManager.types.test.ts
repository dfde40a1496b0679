import { describe, expect, expectTypeOf, it } from "vitest"
import { type AdvancedCircuitBreaker, createCircuitBreakerManager } from "../src/index.js"

interface Order {
  readonly id: string
  readonly amount: number
}

const charge = async (order: Order): Promise<string> => `receipt ${order.id} ${order.amount}`

describe("CircuitBreakerManager types", () => {
  it("register returns a breaker typed by the function it wraps", async () => {
    const manager = createCircuitBreakerManager()
    const payments = manager.register("payments", charge)
    expectTypeOf(payments).toEqualTypeOf<AdvancedCircuitBreaker<[order: Order], string>>()
    expectTypeOf(payments.execute).parameters.toEqualTypeOf<[order: Order]>()
    expectTypeOf(payments.execute).returns.toEqualTypeOf<Promise<string>>()
    // @ts-expect-error: the wrapped function takes an Order
    expectTypeOf(payments.execute).toBeCallableWith("o-1")
    expect(await payments.execute({ id: "o-1", amount: 3 })).toBe("receipt o-1 3")
    await manager.clear()
  })

  it("get is typed by the caller, and without type arguments resolves with unknown", async () => {
    const manager = createCircuitBreakerManager()
    const registered = manager.register("payments", charge)
    const typed = manager.get<[Order], string>("payments")
    expectTypeOf(typed).toEqualTypeOf<AdvancedCircuitBreaker<[Order], string> | undefined>()
    expect(typed).toBe(registered)
    expect(await typed?.execute({ id: "o-2", amount: 5 })).toBe("receipt o-2 5")

    const untyped = manager.get("payments")
    expectTypeOf(untyped?.execute).returns.toEqualTypeOf<Promise<unknown>>()
    expect(manager.get("nothing-here")).toBeUndefined()
    await manager.clear()
  })
})
