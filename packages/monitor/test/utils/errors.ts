import * as Data from "effect/Data"

/** The failure of a simulated service. */
export class ServiceDown extends Data.TaggedError("ServiceDown")<{ readonly message: string }> {}

export const down = (message: string) => new ServiceDown({ message })
