/**
 * What the numbers were measured on.
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"

const cpuModel = (): string => {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((l) => l.startsWith("model name"))
    if (line !== undefined) return line.slice(line.indexOf(":") + 1).trim()
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? "unknown"
}

/** The installed version of a package, found by walking up from its entry point. */
const versionOf = (name: string): string => {
  const require = createRequire(import.meta.url)
  try {
    let dir = path.dirname(require.resolve(name))
    for (;;) {
      try {
        const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as {
          name?: string
          version?: string
        }
        if (manifest.name === name && manifest.version !== undefined) return manifest.version
      } catch {
        // no package.json here
      }
      const parent = path.dirname(dir)
      if (parent === dir) return "?"
      dir = parent
    }
  } catch {
    return "?"
  }
}

export const machineLines = (): ReadonlyArray<string> => [
  `CPU: ${cpuModel()} (${os.availableParallelism()} cores as seen by Node, ${os.cpus()[0]?.speed ?? "?"} MHz)`,
  `Node: ${process.version} (V8 ${process.versions.v8}), ${os.platform()} ${os.release()} ${os.arch()}`,
  `Packages: effect ${versionOf("effect")}, opossum ${versionOf("opossum")}, cockatiel ${versionOf("cockatiel")}`,
  `Date: ${new Date().toISOString()}`
]
