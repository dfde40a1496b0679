/**
 * External programs the monitor's tests drive: promtool (Debian's `prometheus`) and Chromium.
 * Without one, its suite is skipped with a warning, or fails under `CI=true` (`.ci/run` installs both).
 */
import { accessSync, constants } from "node:fs"
import { describe, it } from "@effect/vitest"

const executable = (path: string): string | undefined => {
  try {
    accessSync(path, constants.X_OK)
    return path
  } catch {
    return undefined
  }
}

export const promtoolPath = executable(process.env.PROMTOOL ?? "/usr/bin/promtool")
export const chromiumPath = executable(process.env.CHROMIUM ?? "/usr/bin/chromium")

/** `describe` when `path` exists; otherwise skipped visibly, or a failing test under CI. */
export const describeWith = (program: string, path: string | undefined, name: string, fn: () => void): void => {
  if (path !== undefined) describe(name, fn)
  else if (process.env.CI === "true") {
    describe(name, () => {
      it(`needs ${program}`, () => {
        throw new Error(`${program} is required under CI`)
      })
    })
  } else {
    console.warn(`${program} not found: skipping "${name}"`)
    describe.skip(name, fn)
  }
}
