#!/usr/bin/env node
/**
 * bundle-check: `@circuit-breaker/promise` and `@circuit-breaker/core` bundle with esbuild for
 * `--platform=browser` and `--platform=neutral`: no Node built-in is reached from either entry.
 * The Redis path is Node only: `@circuit-breaker/redis` (an optional peer of the Promise API,
 * loaded only by a breaker with `distributedTracking`) stays external, as in a bundle that does
 * not use it. Bundles from the sources (the "source" export condition), so it needs no build.
 *
 * Usage: node scripts/bundle-check.mjs
 * Ends with `bundle-check: N passed, M failed`; exits non-zero when a bundle failed.
 */
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
console.log(`bundle-check: ${passed} passed, ${failed} failed`)
process.exitCode = failed > 0 ? 1 : 0
