/**
 * The little of opossum 10 the benchmark uses (opossum ships no type declarations).
 */
declare module "opossum" {
  interface Options {
    readonly name?: string
    readonly timeout?: number | false
    readonly resetTimeout?: number
  }

  class CircuitBreaker<Args extends Array<unknown> = Array<unknown>, R = unknown> {
    constructor(action: (...args: Args) => R | Promise<R>, options?: Options)
    readonly opened: boolean
    fire(...args: Args): Promise<R>
    open(): void
    shutdown(): void
  }

  export default CircuitBreaker
}
