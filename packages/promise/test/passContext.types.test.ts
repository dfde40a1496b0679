/**
 * The types follow `passContext`: without it `fn` gets the caller's arguments and nothing more;
 * with it `fn`'s last parameter is the `CallContext`, and `execute` takes the ones before it.
 * Checked by the type checker (`npm run check`); the runtime assertions only keep vitest happy.
 */
import { describe, expect, expectTypeOf, it } from "vitest"
import { type AdvancedCircuitBreaker, type CallContext, createAdvancedCircuitBreaker } from "../src/index.js"

describe("passContext in the types", () => {
  it("without it, execute takes exactly fn's parameters, optional ones included", () => {
    const pay = createAdvancedCircuitBreaker(
      (order: string, options?: { readonly express: boolean }) => Promise.resolve(`${order}${options?.express}`),
      { name: "types-plain" }
    )
    expectTypeOf(pay).toEqualTypeOf<
      AdvancedCircuitBreaker<[order: string, options?: { readonly express: boolean }], string>
    >()
    expectTypeOf(pay.execute).parameters.toEqualTypeOf<[order: string, options?: { readonly express: boolean }]>()
    // @ts-expect-error: a CallContext is not a parameter of execute
    void (() => pay.execute("o", { express: true }, { attempt: 1 } as unknown as CallContext))
    expect(pay.name).toBe("types-plain")
  })

  it("with passContext: true, fn's last parameter is the context, and execute takes the ones before it", () => {
    const get = createAdvancedCircuitBreaker((id: number, ctx: CallContext) => Promise.resolve(id + ctx.attempt), {
      name: "types-context",
      passContext: true
    })
    expectTypeOf(get.execute).parameters.toEqualTypeOf<[id: number]>()
    expectTypeOf(get.execute).returns.toEqualTypeOf<Promise<number>>()
    // @ts-expect-error: the context is not passed by the caller
    void (() => get.execute(1, { attempt: 1 } as unknown as CallContext))
    expect(get.name).toBe("types-context")
  })
})
