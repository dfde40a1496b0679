#!/usr/bin/env node
/**
 * pack-smoke: checks that every publishable workspace package works for a plain Node consumer.
 *
 * For each packages/<name>/package.json that is not `private`:
 *   1. `npm run build --if-present` for the package,
 *   2. `npm pack` it into a temp dir, and check the tarball: dist/*.js and dist/*.d.ts present, every file
 *      that the "." export points at (other than the in-repo "source" condition) present, no test files,
 * then, for all of them together:
 *   3. make a plain Node project (type module) in a temp dir outside the repo and `npm install` the tarballs
 *      there, with each peer dependency pinned to the repo's own devDependency version (effect@3.22.4),
 *   4. check that no effect other than 3.x got installed,
 *   5. import each package's root export in plain Node (no --conditions, so "source" must not be used), check
 *      that it resolves into dist and that the expected named exports exist,
 *   6. type-check a small consumer .ts against the packed .d.ts files with the repo's TypeScript and @types/node
 *      (skipLibCheck off, so the packed .d.ts themselves are checked too).
 *
 * Usage: node scripts/pack-smoke.mjs [--root DIR] [--keep] [--verbose]
 *   --root DIR   the repository root (default: two levels above this package; env PACK_SMOKE_ROOT too)
 *   --keep       keep the temp dirs and print where they are
 *   --verbose    stream the output of every command (by default it is shown only when a command fails)
 *
 * Ends with `pack-smoke: N passed, M failed` and exits non-zero when any package failed or none was found.
 */
import { spawnSync } from "node:child_process"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"

/**
 * Named exports that each package's root export must have, keyed by package name. A package not listed here
 * only has to load and have at least one export.
 */
const EXPECTED_EXPORTS = {
  "@circuit-breaker/core": ["CircuitBreaker", "CircuitBreakerState", "CircuitBreakerStore", "CircuitBreakerRegistry"],
  "@circuit-breaker/promise": [
    "createAdvancedCircuitBreaker",
    "CircuitBreakerManager",
    "CircuitOpenError",
    "CircuitTimeoutError"
  ]
}

/** Paths inside a tarball (after `package/`) that must never be published. */
const FORBIDDEN_FILES = [
  /(^|\/)(test|tests|__tests__)\//,
  /\.(test|spec)\.[cm]?[jt]sx?$/,
  /\.(test|spec)\.d\.[cm]?ts$/,
  /(^|\/)vitest\.config\.[cm]?[jt]s$/,
  /\.tsbuildinfo$/
]

const COMMAND_TIMEOUT_MS = 10 * 60 * 1000

// ---------------------------------------------------------------------------------------------------------------

const args = process.argv.slice(2)
const flag = (name) => args.includes(name)
const option = (name) => {
  const i = args.indexOf(name)
  return i === -1 ? undefined : args[i + 1]
}
const verbose = flag("--verbose")
const keep = flag("--keep")
const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(option("--root") ?? process.env.PACK_SMOKE_ROOT ?? path.join(here, "..", "..", ".."))

const log = (message) => console.log(`pack-smoke: ${message}`)

class StepError extends Error {}
const fail = (message) => {
  throw new StepError(message)
}

/**
 * The environment for child npm processes. `npm run` exports some of its own config (local prefix, and
 * workspace flags when given) that must not leak into an npm that runs somewhere else.
 */
const childEnv = (() => {
  const env = { ...process.env }
  for (const key of Object.keys(env)) {
    if (/^npm_config_(local_prefix|workspace|workspaces|include_workspace_root|global|dry_run|json)$/i.test(key)) {
      delete env[key]
    }
  }
  return env
})()

/** Runs a command; returns its stdout, or throws a StepError that carries the tail of its output. */
const run = (command, commandArgs, cwd, what) => {
  if (verbose) log(`$ (cd ${cwd} && ${command} ${commandArgs.join(" ")})`)
  const result = spawnSync(command, commandArgs, {
    cwd,
    env: childEnv,
    encoding: "utf8",
    stdio: verbose ? ["ignore", "pipe", "inherit"] : ["ignore", "pipe", "pipe"],
    timeout: COMMAND_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024
  })
  if (verbose && result.stdout) process.stdout.write(result.stdout)
  if (result.error) fail(`${what}: could not run ${command}: ${result.error.message}`)
  if (result.status !== 0) {
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim().split("\n").slice(-40).join("\n")
    const how = result.signal ? `was killed by ${result.signal}` : `exited with ${result.status}`
    fail(`${what}: \`${command} ${commandArgs.join(" ")}\` ${how}${output ? `\n${output}` : ""}`)
  }
  return result.stdout ?? ""
}

const readJson = (file) => JSON.parse(fs.readFileSync(file, "utf8"))

const isInside = (parent, child) => {
  const rel = path.relative(parent, child)
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel))
}

/** Every file path that an export entry points at, skipping the in-repo "source" condition. */
const exportTargets = (entry) => {
  if (typeof entry === "string") return [entry]
  if (entry === null || typeof entry !== "object") return []
  if (Array.isArray(entry)) return entry.flatMap(exportTargets)
  return Object.entries(entry).flatMap(([condition, value]) => (condition === "source" ? [] : exportTargets(value)))
}

const rootExport = (manifest) => {
  const { exports } = manifest
  if (exports === undefined) return manifest.main ?? "index.js"
  if (typeof exports === "string" || Array.isArray(exports)) return exports
  return Object.keys(exports).some((key) => key.startsWith(".")) ? exports["."] : exports
}

// ---------------------------------------------------------------------------------------------------------------

const discover = () => {
  const dir = path.join(root, "packages")
  if (!fs.existsSync(path.join(root, "package.json")) || !fs.existsSync(dir)) {
    fail(`${root} does not look like the repository root (no package.json or packages/)`)
  }
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(dir, entry.name, "package.json")))
    .map((entry) => {
      const pkgDir = path.join(dir, entry.name)
      return { dir: pkgDir, manifest: readJson(path.join(pkgDir, "package.json")) }
    })
    .filter(({ manifest }) => manifest.private !== true)
    .sort((a, b) => a.manifest.name.localeCompare(b.manifest.name))
}

const buildAndPack = (pkg, packDir) => {
  const name = pkg.manifest.name
  run("npm", ["run", "build", "--if-present", "--workspace", name], root, `${name}: build`)
  const dest = fs.mkdtempSync(path.join(packDir, "pkg-"))
  run("npm", ["pack", "--workspace", name, "--pack-destination", dest], root, `${name}: npm pack`)
  const tarballs = fs.readdirSync(dest).filter((file) => file.endsWith(".tgz"))
  if (tarballs.length !== 1) fail(`${name}: npm pack left ${tarballs.length} tarballs in ${dest}, expected 1`)
  const tarball = path.join(dest, tarballs[0])

  const files = run("tar", ["-tzf", tarball], dest, `${name}: list tarball`)
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.endsWith("/"))
    .map((line) => line.replace(/^package\//, ""))
  const has = new Set(files)
  const problems = []
  if (!files.some((file) => /^dist\/.+\.js$/.test(file))) problems.push("no dist/**/*.js")
  if (!files.some((file) => /^dist\/.+\.d\.ts$/.test(file))) problems.push("no dist/**/*.d.ts")
  for (const target of exportTargets(rootExport(pkg.manifest))) {
    const file = path.posix.normalize(target)
    if (!has.has(file)) problems.push(`the "." export points at ${target}, which is not in the tarball`)
  }
  const forbidden = files.filter((file) => FORBIDDEN_FILES.some((pattern) => pattern.test(file)))
  if (forbidden.length > 0) problems.push(`test files in the tarball: ${forbidden.slice(0, 10).join(", ")}`)
  if (problems.length > 0) {
    const hint = fs.existsSync(path.join(pkg.dir, "dist"))
      ? ""
      : `\n  (${path.relative(root, pkg.dir)}/dist does not exist after the build: a stale build/tsbuildinfo can make` +
        " `tsc -b` skip emitting; delete it and retry)"
    fail(`${name}: bad tarball ${path.basename(tarball)}:\n  - ${problems.join("\n  - ")}${hint}`)
  }
  log(`${name}: packed ${path.basename(tarball)} (${files.length} files)`)
  return tarball
}

/** Peer dependencies of the packed packages, pinned to the repo root's devDependency version where it has one. */
const peerSpecs = (packages) => {
  const rootManifest = readJson(path.join(root, "package.json"))
  const internal = new Set(packages.map((pkg) => pkg.manifest.name))
  const peers = new Map()
  for (const { manifest } of packages) {
    for (const [peer, range] of Object.entries(manifest.peerDependencies ?? {})) {
      if (internal.has(peer) || manifest.peerDependenciesMeta?.[peer]?.optional) continue
      peers.set(peer, rootManifest.devDependencies?.[peer] ?? range)
    }
  }
  return [...peers].map(([peer, version]) => `${peer}@${version}`)
}

/** Versions of every copy of `name` installed anywhere under a node_modules dir (nested ones included). */
const installedVersions = (nodeModules, name) => {
  const versions = []
  const visit = (dir) => {
    if (!fs.existsSync(dir)) return
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith(".")) continue
      const full = path.join(dir, entry.name)
      if (entry.name.startsWith("@")) {
        for (const scoped of fs.readdirSync(full, { withFileTypes: true })) {
          if (scoped.isDirectory()) visitPackage(`${entry.name}/${scoped.name}`, path.join(full, scoped.name))
        }
      } else {
        visitPackage(entry.name, full)
      }
    }
  }
  const visitPackage = (pkgName, dir) => {
    if (pkgName === name && fs.existsSync(path.join(dir, "package.json"))) {
      versions.push(readJson(path.join(dir, "package.json")).version)
    }
    visit(path.join(dir, "node_modules"))
  }
  visit(nodeModules)
  return versions
}

const CHECK_SCRIPT = `
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"

const specs = JSON.parse(process.argv[2])
const results = []
for (const { name, expected } of specs) {
  const problems = []
  try {
    const resolved = fileURLToPath(import.meta.resolve(name))
    if (!resolved.includes("/node_modules/" + name + "/")) problems.push("resolved outside node_modules: " + resolved)
    if (/\\.[cm]?tsx?$/.test(resolved)) problems.push("resolved to TypeScript source (the source condition?): " + resolved)
    if (!resolved.includes("/dist/")) problems.push("resolved outside dist: " + resolved)
    const module = await import(name)
    const keys = Object.keys(module)
    if (expected.length === 0 && keys.length === 0) problems.push("the module has no exports")
    for (const key of expected) {
      if (!(key in module) || module[key] === undefined || module[key] === null) problems.push("missing export " + key)
    }
    results.push({ name, resolved, exports: keys, problems })
  } catch (error) {
    problems.push("import failed: " + (error && error.stack ? error.stack : String(error)))
    results.push({ name, problems })
  }
}
console.log(JSON.stringify(results))
`

const typesCheck = (consumer, specs) => {
  const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc")
  if (!fs.existsSync(tsc)) {
    log("skipping the consumer type check: no typescript in the repo's node_modules")
    return
  }
  const source = specs
    .map(({ name, expected }, i) =>
      [
        `import * as m${i} from ${JSON.stringify(name)}`,
        expected.length > 0
          ? `export const used${i} = [${expected.map((key) => `m${i}.${key}`).join(", ")}] as const`
          : `export type Used${i} = typeof m${i}`
      ].join("\n")
    )
    .join("\n")
  fs.writeFileSync(path.join(consumer, "check.ts"), `${source}\n`)
  fs.writeFileSync(
    path.join(consumer, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: "ES2022",
        lib: ["ES2022"],
        module: "NodeNext",
        moduleResolution: "NodeNext",
        // a Node service consumer: effect's .d.ts need URL, AbortSignal, ReadableStream from @types/node
        typeRoots: [path.join(root, "node_modules", "@types")],
        types: ["node"],
        skipLibCheck: false
      },
      files: ["check.ts"]
    })
  )
  run(process.execPath, [tsc, "-p", "tsconfig.json"], consumer, "consumer type check against the packed .d.ts")
  log("consumer type check passed")
}

// ---------------------------------------------------------------------------------------------------------------

const main = () => {
  /** Package name -> true (passed so far) or false (failed); each failure's message is kept once in `errors`. */
  const status = new Map()
  const errors = []
  const failPackages = (names, message) => {
    for (const name of names) status.set(name, false)
    errors.push(message)
  }
  const temps = []
  const cleanup = () => {
    for (const dir of temps.splice(0)) {
      if (keep) log(`kept ${dir}`)
      else fs.rmSync(dir, { recursive: true, force: true })
    }
  }
  const onSignal = (signal) => {
    cleanup()
    process.exit(signal === "SIGINT" ? 130 : 143)
  }
  process.once("SIGINT", onSignal)
  process.once("SIGTERM", onSignal)

  let fatal
  try {
    const packages = discover()
    if (packages.length === 0) fail(`no publishable (non-private) packages under ${path.join(root, "packages")}`)
    log(`publishable packages: ${packages.map((pkg) => pkg.manifest.name).join(", ")}`)

    const tmp = fs.realpathSync(os.tmpdir())
    if (isInside(fs.realpathSync(root), tmp)) fail(`the temp dir ${tmp} is inside the repository; set TMPDIR elsewhere`)
    const packDir = fs.mkdtempSync(path.join(tmp, "pack-smoke-tarballs-"))
    temps.push(packDir)

    const packed = []
    for (const pkg of packages) {
      try {
        packed.push({ pkg, tarball: buildAndPack(pkg, packDir) })
      } catch (error) {
        if (!(error instanceof StepError)) throw error
        failPackages([pkg.manifest.name], error.message)
      }
    }

    if (packed.length > 0) {
      const consumer = fs.mkdtempSync(path.join(tmp, "pack-smoke-consumer-"))
      temps.push(consumer)
      const specs = packed.map(({ pkg }) => ({
        name: pkg.manifest.name,
        expected: EXPECTED_EXPORTS[pkg.manifest.name] ?? []
      }))
      try {
        fs.writeFileSync(
          path.join(consumer, "package.json"),
          `${JSON.stringify({ name: "pack-smoke-consumer", version: "0.0.0", private: true, type: "module" }, null, 2)}\n`
        )
        const peers = peerSpecs(packed.map(({ pkg }) => pkg))
        log(
          `installing ${packed.length} tarball(s)${peers.length > 0 ? ` with ${peers.join(", ")}` : ""} in ${consumer}`
        )
        run(
          "npm",
          [
            "install",
            "--prefer-offline",
            "--no-audit",
            "--no-fund",
            "--no-package-lock",
            ...packed.map(({ tarball }) => tarball),
            ...peers
          ],
          consumer,
          "npm install in the consumer project"
        )

        const effectVersions = new Set(installedVersions(path.join(consumer, "node_modules"), "effect"))
        const wrong = [...effectVersions].filter((version) => !version.startsWith("3."))
        if (wrong.length > 0) fail(`the consumer got effect ${wrong.join(", ")}; only effect 3.x is allowed`)
        log(`consumer has effect ${[...effectVersions].join(", ") || "(none)"}`)

        fs.writeFileSync(path.join(consumer, "check.mjs"), CHECK_SCRIPT)
        const output = run(process.execPath, ["check.mjs", JSON.stringify(specs)], consumer, "import check")
        const results = JSON.parse(output.trim().split("\n").pop())
        for (const result of results) {
          if (result.problems.length > 0) {
            failPackages([result.name], `${result.name}: ${result.problems.join("; ")}`)
          } else {
            status.set(result.name, true)
            log(
              `${result.name}: imports from ${path.relative(consumer, result.resolved)}: ${result.exports.join(", ")}`
            )
          }
        }

        typesCheck(consumer, specs)
      } catch (error) {
        if (!(error instanceof StepError)) throw error
        // a failure here is not tied to one package: it fails every package that had not failed yet
        const names = specs.map(({ name }) => name).filter((name) => status.get(name) !== false)
        failPackages(names.length > 0 ? names : specs.map(({ name }) => name), error.message)
      }
    }
  } catch (error) {
    fatal = error instanceof StepError ? error.message : (error?.stack ?? String(error))
  } finally {
    cleanup()
  }

  for (const message of errors) console.error(`pack-smoke: FAIL ${message}`)
  if (fatal !== undefined) console.error(`pack-smoke: FAIL ${fatal}`)
  const passed = [...status.values()].filter((ok) => ok === true).length
  const failed = status.size - passed + (fatal === undefined ? 0 : 1)
  console.log(`pack-smoke: ${passed} passed, ${failed} failed`)
  return failed > 0 ? 1 : 0
}

process.exitCode = main()
