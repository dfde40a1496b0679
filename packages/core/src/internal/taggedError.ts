import type * as Cause from "effect/Cause"
import { StructuralCommitPrototype } from "effect/Effectable"
import * as Either from "effect/Either"
import { NodeInspectSymbol } from "effect/Inspectable"
import type * as Types from "effect/Types"

/** The key under which `Data.Error` keeps its constructor's arguments (for `toJSON`). */
const plainArgs = Symbol.for("effect/Data/Error/plainArgs")

/**
 * `Data.Error`, built from Effect's light modules. `effect/Data` loads the fiber runtime's
 * core (some sixty modules) with its `YieldableError`, which the Promise API would then load
 * at import for errors it may never throw. This base has the same prototype (an Effect that
 * fails with the error, structural equality, `pipe`) and the same `toJSON` and inspection.
 * Its `commit` is `Either.left(this)`, which Effect's runtime runs as `Effect.fail(this)`.
 */
class YieldableError extends globalThis.Error {
  constructor(args?: Record<string, unknown>) {
    super(args?.message as string | undefined, args?.cause ? { cause: args.cause } : undefined)
    if (args) {
      Object.assign(this, args)
      Object.defineProperty(this, plainArgs, { value: args, enumerable: false })
    }
  }

  commit(): Either.Either<never, this> {
    return Either.left(this)
  }

  toJSON(): object {
    return { ...(this as unknown as Record<symbol, object>)[plainArgs], ...this }
  }

  [NodeInspectSymbol](): unknown {
    if (this.toString !== globalThis.Error.prototype.toString) {
      return this.stack ? `${this.toString()}\n${this.stack.split("\n").slice(1).join("\n")}` : this.toString()
    }
    return this
  }
}
// @effect-diagnostics-next-line floatingEffect:off
Object.assign(YieldableError.prototype, StructuralCommitPrototype)

/**
 * `Data.TaggedError` without loading `effect/Data`: the same type, and at run time the same
 * shape (`_tag`, `name`, yieldable in `Effect.gen`, handled by `Effect.catchTag`).
 *
 * @internal
 */
export const TaggedError = <Tag extends string>(
  tag: Tag
): (new <A extends Record<string, any> = {}>(
  args: Types.VoidIfEmpty<{ readonly [P in keyof A as P extends "_tag" ? never : P]: A[P] }>
) => Cause.YieldableError & { readonly _tag: Tag } & Readonly<A>) => {
  class Tagged extends YieldableError {
    readonly _tag = tag
  }
  Tagged.prototype.name = tag
  return Tagged as never
}
