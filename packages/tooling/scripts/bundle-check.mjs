#!/usr/bin/env node
/**
 * bundle-check: `@circuit-breaker/promise` and `@circuit-breaker/core` bundle with esbuild for
 * `--platform=browser` and `--platform=neutral`: no Node built-in is reached from either entry.
 * The Redis path is Node only: `@circuit-breaker/redis` (an optional peer of the Promise API,
 * loaded only by a breaker with `distributedTracking`) stays external, as in a bundle that does
 * not use it. Bundles from the sources (the "source" export condition), so it needs no build.
 *
 *
 * It also checks what importing the Promise API loads before a breaker needs more: the entry
 * chunk (esbuild code splitting: what a dynamic import brings is in other chunks) holds none of
 * the heavy `effect` modules (the runtime, Schema, Metric, Schedule, Stream, Layer).
 *
 * Usage: node scripts/bundle-check.mjs
 * Ends with `bundle-check: N passed, M failed`; exits non-zero when a bundle failed.
 */
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
const ENTRIES = ["@circuit-breaker/promise", "@circuit-breaker/core"]
const PLATFORMS = ["browser", "neutral"]

const bundle = (entry, platform) =>
  build({
    stdin: { contents: `export * from ${JSON.stringify(entry)}`, resolveDir: root, loader: "js" },
    bundle: true,
    write: false,
    minify: true,
    format: "esm",
    platform,
    conditions: ["source"],
    external: ["@circuit-breaker/redis"],
    logLevel: "silent"
  })

/** `effect` modules the Promise API must not load up front. */
const HEAVY = /node_modules\/effect\/dist\/esm\/(Effect|Schema|Metric|Schedule|Stream|Layer|Runtime)\.js$/

/** The heavy `effect` modules in the chunk that `import { ... } from "@circuit-breaker/promise"` loads at once. */
const heavyModulesLoadedUpFront = async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bundle-check-"))
  try {
    const entry = path.join(dir, "entry.js")
    fs.writeFileSync(
      entry,
      'export { createAdvancedCircuitBreaker, CircuitBreakerManager } from "@circuit-breaker/promise"\n'
    )
    const result = await build({
      entryPoints: [entry],
      nodePaths: [path.join(root, "node_modules")],
      bundle: true,
      splitting: true,
      write: false,
      outdir: path.join(dir, "out"),
      format: "esm",
      platform: "neutral",
      conditions: ["source"],
      external: ["@circuit-breaker/redis"],
      metafile: true,
      logLevel: "silent"
    })
    const [, output] = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint !== undefined)
    return Object.keys(output.inputs).filter((input) => HEAVY.test(input))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

let passed = 0
let failed = 0
for (const entry of ENTRIES) {
  for (const platform of PLATFORMS) {
    try {
      const result = await bundle(entry, platform)
      const bytes = result.outputFiles.reduce((sum, file) => sum + file.contents.length, 0)
      console.log(`bundle-check: ok   ${entry} --platform=${platform} (${(bytes / 1024).toFixed(1)} KB minified)`)
      passed++
    } catch (error) {
      const messages = (error.errors ?? []).map((e) => `${e.text} (${e.location?.file ?? "?"})`)
      console.error(`bundle-check: FAIL ${entry} --platform=${platform}: ${messages.join("; ") || error.message}`)
      failed++
    }
  }
}
try {
  const heavy = await heavyModulesLoadedUpFront()
  if (heavy.length > 0) throw new Error(`loads ${heavy.join(", ")} up front`)
  console.log("bundle-check: ok   importing @circuit-breaker/promise loads no heavy effect module up front")
  passed++
} catch (error) {
  console.error(`bundle-check: FAIL importing @circuit-breaker/promise: ${error.message}`)
  failed++
}
console.log(`bundle-check: ${passed} passed, ${failed} failed`)
process.exitCode = failed > 0 ? 1 : 0
