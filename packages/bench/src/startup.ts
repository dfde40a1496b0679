/**
 * What a breaker costs before its first call (issue 14, item 1): the time to import each
 * package in a fresh Node process, and the size of a bundle of what a user imports.
 *
 * Import: each specifier imported once per fresh process (`performance.now()` around the
 * `import()`), the processes interleaved run by run so that a busy moment hits every
 * contender alike; the median over runs. Our packages load from `dist/` (no "source"
 * condition), as an installed package does. Core is compared with the `effect` modules its
 * build imports, loaded together in one process: what no library on those modules can avoid.
 *
 * Bundle: esbuild, minified, then gzip; for `--platform=browser` and `--platform=node`. The
 * entry imports what a user of each library imports; the Redis path of the Promise API is
 * external (Node only, an optional peer loaded when a breaker asks for it).
 *
 * Environment: BENCH_IMPORT_RUNS (fresh processes per specifier, default 9).
 */
import { execFile } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"
import { build } from "esbuild"
import { envInt } from "./env.js"
import { num, range, type Summary, summarize, type Target, table } from "./stats.js"

const IMPORT_RUNS = envInt("BENCH_IMPORT_RUNS", 9)
const here = dirname(fileURLToPath(import.meta.url))
const EFFECT_MODULES = "effect modules core imports"

/** The `effect/*` modules that core's ESM build imports, in any of its files. */
const effectModulesOfCore = (): ReadonlyArray<string> => {
  const dist = dirname(fileURLToPath(import.meta.resolve("@circuit-breaker/core")))
  const files = readdirSync(dist, { recursive: true, encoding: "utf8" }).filter(
    (file) => file.endsWith(".js") && !file.startsWith("cjs")
  )
  const modules = new Set<string>()
  for (const file of files) {
    for (const match of readFileSync(join(dist, file), "utf8").matchAll(/from\s*"(effect(?:\/[\w]+)?)"/g)) {
      modules.add(match[1]!)
    }
  }
  return [...modules].sort()
}

/** Milliseconds to import `specifiers` (all together) in a fresh process. */
const importOnce = (specifiers: ReadonlyArray<string>): Promise<number> =>
  new Promise((resolve, reject) => {
    const source = `const start = performance.now()
await Promise.all(${JSON.stringify(specifiers)}.map((s) => import(s)))
console.log(performance.now() - start)`
    execFile(process.execPath, ["--input-type=module", "-e", source], { cwd: here }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`importing ${specifiers.join(", ")} failed: ${stderr || error.message}`))
      resolve(Number(stdout.trim().split("\n").at(-1)))
    })
  })

interface ImportResult {
  readonly perRun: Record<string, Array<number>>
  readonly effectModules: ReadonlyArray<string>
}

const measureImports = async (progress: (line: string) => void): Promise<ImportResult> => {
  const effectModules = effectModulesOfCore()
  const contenders: Record<string, ReadonlyArray<string>> = {
    "@circuit-breaker/promise": ["@circuit-breaker/promise"],
    "@circuit-breaker/core": ["@circuit-breaker/core"],
    [EFFECT_MODULES]: effectModules,
    cockatiel: ["cockatiel"],
    opossum: ["opossum"]
  }
  const perRun: Record<string, Array<number>> = {}
  for (const name of Object.keys(contenders)) perRun[name] = []
  for (let run = 0; run < IMPORT_RUNS; run++) {
    for (const [name, specifiers] of Object.entries(contenders)) perRun[name]!.push(await importOnce(specifiers))
    progress(`  import run ${run + 1}/${IMPORT_RUNS} done`)
  }
  return { perRun, effectModules }
}

/** What a user of each library imports, as a bundle entry. */
const BUNDLE_ENTRIES: Record<string, string> = {
  "@circuit-breaker/promise": 'export { createAdvancedCircuitBreaker } from "@circuit-breaker/promise"',
  "@circuit-breaker/core": 'export { CircuitBreaker } from "@circuit-breaker/core"',
  cockatiel: 'export { circuitBreaker, ConsecutiveBreaker, handleAll } from "cockatiel"',
  opossum: 'export { default } from "opossum"'
}
const BUNDLE_PLATFORMS = ["browser", "node"] as const

/** gzip bytes of the minified bundle, or the first error esbuild reports. */
const bundleSize = async (contents: string, platform: "browser" | "node"): Promise<number | string> => {
  try {
    const result = await build({
      stdin: { contents, resolveDir: here, loader: "js" },
      bundle: true,
      write: false,
      minify: true,
      format: "esm",
      platform,
      external: ["@circuit-breaker/redis"],
      logLevel: "silent"
    })
    return gzipSync(Buffer.concat(result.outputFiles.map((file) => file.contents))).length
  } catch (error) {
    const first = (error as { errors?: Array<{ text: string }> }).errors?.[0]?.text
    return `fails: ${first ?? String(error)}`
  }
}

const kb = (bytes: number | string): string => (typeof bytes === "number" ? `${num(bytes / 1024)} KB` : bytes)

const ratioTarget = (name: string, ours: Summary, peer: Summary, peerName: string, limit: number): Target => {
  const ratio = ours.median / peer.median
  return {
    name,
    measured: `${range(ours, " ms")} vs ${peerName} ${range(peer, " ms")}`,
    limit: `ratio ≤ ${limit}`,
    ratio: num(ratio),
    pass: ratio <= limit
  }
}

/** The import and bundle tables, and the targets of item 1 (import) and item 2 (bundles anywhere). */
export const measureStartup = async (
  progress: (line: string) => void
): Promise<{ readonly lines: ReadonlyArray<string>; readonly targets: ReadonlyArray<Target> }> => {
  progress(`import: ${IMPORT_RUNS} fresh processes per package, interleaved`)
  const { perRun, effectModules } = await measureImports(progress)
  const imports = Object.fromEntries(Object.entries(perRun).map(([name, xs]) => [name, summarize(xs)]))
  progress("bundle: esbuild, browser and node platforms")
  const sizes: Record<string, Record<string, number | string>> = {}
  for (const [name, contents] of Object.entries(BUNDLE_ENTRIES)) {
    sizes[name] = {}
    for (const platform of BUNDLE_PLATFORMS) sizes[name]![platform] = await bundleSize(contents, platform)
  }
  const lines = [
    `## Start-up: import in a fresh process (${IMPORT_RUNS} runs, median (min–max)); bundle (esbuild, minified + gzip)`,
    `"${EFFECT_MODULES}": ${effectModules.join(", ")}, imported together.`,
    "",
    table(
      ["package", "import ms", "bundle, browser", "bundle, node", "bundle entry"],
      Object.entries(imports).map(([name, summary]) => [
        name,
        range(summary),
        kb(sizes[name]?.browser ?? "—"),
        kb(sizes[name]?.node ?? "—"),
        BUNDLE_ENTRIES[name] === undefined ? "—" : `\`${BUNDLE_ENTRIES[name]}\``
      ]),
      ["l", "r", "r", "r", "l"]
    )
  ]
  const bundles = ["@circuit-breaker/promise", "@circuit-breaker/core"].flatMap((name) =>
    BUNDLE_PLATFORMS.map((platform) => `${name} ${platform}: ${kb(sizes[name]![platform]!)}`)
  )
  const targets: ReadonlyArray<Target> = [
    ratioTarget(
      "Import: `@circuit-breaker/promise` ≤ 3× cockatiel",
      imports["@circuit-breaker/promise"]!,
      imports.cockatiel!,
      "cockatiel",
      3
    ),
    ratioTarget(
      "Import: `@circuit-breaker/core` ≤ 1.3× the effect modules it imports",
      imports["@circuit-breaker/core"]!,
      imports[EFFECT_MODULES]!,
      "those modules",
      1.3
    ),
    {
      name: "Bundle: Promise and core packages for the browser (no Node built-in)",
      measured: bundles.join("; "),
      limit: "bundles",
      ratio: "—",
      pass: bundles.every((line) => !line.includes("fails"))
    }
  ]
  return { lines, targets }
}
