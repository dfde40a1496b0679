#!/usr/bin/env node
/**
 * pack-smoke: the packed packages, as a new user gets them.
 *
 *   1. builds and packs every publishable package (packages/<name>, not `private`);
 *   2. checks each tarball with `publint` (the package.json against the files) and `@arethetypeswrong/cli` (the
 *      types of every export resolve for node10, node16 from ESM and from CommonJS, and bundlers), and that
 *      it ships its README and LICENSE and no source, source map or test;
 *   3. installs the tarballs into a plain project outside the repository and runs a breaker from each entry point,
 *      once with `import` and once with `require`;
 *   4. type-checks a small consumer there against the packed declarations as an ES module (`module: nodenext`) and
 *      as CommonJS (`module: node16`, where an ESM-only package fails with TS1479).
 *
 * Usage: node scripts/pack-smoke.mjs [--keep] [--verbose]
 * Ends with `pack-smoke: N passed, M failed`; exits non-zero when a check failed.
 */
import { spawnSync } from "node:child_process"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { exportsFor } from "./exports.mjs"

const args = process.argv.slice(2)
const verbose = args.includes("--verbose")
const keep = args.includes("--keep")
const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, "..", "..", "..")
const bin = (name) => path.join(here, "..", "node_modules", ".bin", name)
const rootBin = (name) => path.join(root, "node_modules", ".bin", name)
const tool = (name) => (fs.existsSync(bin(name)) ? bin(name) : rootBin(name))
const log = (message) => console.log(`pack-smoke: ${message}`)

/** Tarball paths (after `package/`) a package must ship, and ones it must not. */
const REQUIRED_FILES = ["README.md", "LICENSE", "package.json"]
const FORBIDDEN_FILES = [/^src\//, /\.map$/, /(^|\/)(test|tests|__tests__)\//, /\.(test|spec)\./, /\.tsbuildinfo$/]

/** npm exports its own config to scripts; it must not leak into an npm that runs elsewhere. */
const childEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([key]) => !/^npm_config_(local_prefix|workspace|workspaces|include_workspace_root|global|dry_run|json)$/i.test(key)
  )
)

const run = (command, commandArgs, cwd) => {
  if (verbose) log(`$ (cd ${cwd} && ${command} ${commandArgs.join(" ")})`)
  const result = spawnSync(command, commandArgs, { cwd, env: childEnv, encoding: "utf8", maxBuffer: 64 << 20 })
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim()
  if (verbose && output) console.log(output)
  if (result.error || result.status !== 0) {
    const why = result.error?.message ?? `exited with ${result.status}`
    throw new Error(
      `\`${path.basename(command)} ${commandArgs.join(" ")}\` ${why}\n${output.split("\n").slice(-40).join("\n")}`
    )
  }
  return result.stdout
}

const readJson = (file) => JSON.parse(fs.readFileSync(file, "utf8"))

const discover = () => {
  const dir = path.join(root, "packages")
  return fs
    .readdirSync(dir)
    .map((name) => ({ dir: path.join(dir, name), manifestFile: path.join(dir, name, "package.json") }))
    .filter(({ manifestFile }) => fs.existsSync(manifestFile))
    .map(({ dir, manifestFile }) => ({ dir, manifest: readJson(manifestFile) }))
    .filter(({ manifest }) => manifest.private !== true)
}

const pack = (pkg, dest) => {
  run("npm", ["run", "build", "--workspace", pkg.manifest.name], root)
  const out = run(
    "npm",
    ["pack", "--json", "--ignore-scripts", "--workspace", pkg.manifest.name, "--pack-destination", dest],
    root
  )
  const [{ filename, files }] = JSON.parse(out)
  const paths = files.map((file) => file.path)
  const missing = REQUIRED_FILES.filter((file) => !paths.includes(file))
  const forbidden = paths.filter((file) => FORBIDDEN_FILES.some((pattern) => pattern.test(file)))
  if (missing.length > 0) throw new Error(`the tarball lacks ${missing.join(", ")}`)
  if (forbidden.length > 0) throw new Error(`the tarball ships ${forbidden.slice(0, 10).join(", ")}`)
  return path.join(dest, filename)
}

const lint = (pkg, tarball) => {
  if (JSON.stringify(pkg.manifest.exports) !== JSON.stringify(exportsFor(pkg.dir))) {
    throw new Error("its exports map is not that of its src/*.ts modules: run `npm run sync-exports`")
  }
  run(tool("publint"), ["run", tarball, "--strict"], root)
  run(tool("attw"), [tarball], root)
}

/** Runs a breaker call through each package; the same source, as ESM and as CommonJS. */
const runScript = (load) => `
const { createAdvancedCircuitBreaker, CircuitOpenError } = ${load("@circuit-breaker/promise")}
const { CircuitBreaker } = ${load("@circuit-breaker/core")}
const { RedisCircuitBreakerStore } = ${load("@circuit-breaker/redis")}
const Effect = ${load("effect/Effect")}
const main = async () => {
  const breaker = createAdvancedCircuitBreaker(async (x) => x * 2, { name: "smoke" })
  if ((await breaker.execute(21)) !== 42) throw new Error("promise: wrong result")
  await breaker.dispose()
  const viaEffect = await Effect.runPromise(
    Effect.flatMap(CircuitBreaker.make({ name: "smoke-effect" }), (b) => b.execute(Effect.succeed(42)))
  )
  if (viaEffect !== 42) throw new Error("core: wrong result")
  if (typeof RedisCircuitBreakerStore.layer !== "function" || typeof CircuitOpenError !== "function") {
    throw new Error("missing exports")
  }
  console.log("ok")
}
main().catch((error) => { console.error(error); process.exitCode = 1 })
`

const consumerTs = `
import { CircuitBreakerManager, createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
import { CircuitBreaker } from "@circuit-breaker/core"
import { RedisCircuitBreakerStore } from "@circuit-breaker/redis"
import * as Effect from "effect/Effect"

const breaker = createAdvancedCircuitBreaker(async (x: number) => x * 2, { name: "typed" })
export const doubled: Promise<number> = breaker.execute(21)
export const registered: Promise<string> = CircuitBreakerManager.register("typed", async (id: string) => id).execute("a")
export const viaEffect: Effect.Effect<number, unknown> = Effect.flatMap(CircuitBreaker.make({ name: "typed" }), (b) =>
  b.execute(Effect.succeed(42))
)
export const layer = RedisCircuitBreakerStore.layer
`

const typeCheck = (consumer, name, extension, compilerOptions) => {
  const dir = path.join(consumer, name)
  fs.mkdirSync(dir)
  fs.writeFileSync(path.join(dir, `consumer.${extension}`), consumerTs)
  // a Node service: ioredis's and effect's declarations need Buffer, URL, AbortSignal from @types/node
  const typeRoots = [path.join(root, "node_modules", "@types")]
  const options = {
    strict: true,
    noEmit: true,
    target: "ES2022",
    lib: ["ES2022"],
    typeRoots,
    types: ["node"],
    ...compilerOptions
  }
  fs.writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify({ compilerOptions: options, files: [`consumer.${extension}`] })
  )
  run(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", dir], consumer)
}

const consumerChecks = (consumer, tarballs) => {
  const effect = readJson(path.join(root, "package.json")).devDependencies.effect
  fs.writeFileSync(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true }))
  run(
    "npm",
    ["install", "--no-audit", "--no-fund", "--no-package-lock", ...tarballs, `effect@${effect}`, "ioredis@5"],
    consumer
  )
  const checks = {
    "runs with import": () => {
      fs.writeFileSync(
        path.join(consumer, "run.mjs"),
        runScript((name) => `await import(${JSON.stringify(name)})`)
      )
      run(process.execPath, ["run.mjs"], consumer)
    },
    "runs with require": () => {
      fs.writeFileSync(
        path.join(consumer, "run.cjs"),
        runScript((name) => `require(${JSON.stringify(name)})`)
      )
      run(process.execPath, ["run.cjs"], consumer)
    },
    "types for an ES module consumer": () =>
      typeCheck(consumer, "esm", "mts", { module: "NodeNext", moduleResolution: "NodeNext", skipLibCheck: false }),
    "types for a CommonJS consumer": () =>
      typeCheck(consumer, "cjs", "cts", { module: "Node16", moduleResolution: "Node16", skipLibCheck: true })
  }
  return Object.entries(checks)
}

const main = () => {
  const results = []
  const check = (name, body) => {
    try {
      body()
      results.push(true)
      log(`ok   ${name}`)
    } catch (error) {
      results.push(false)
      console.error(`pack-smoke: FAIL ${name}: ${error.message}`)
    }
  }
  const tmp = fs.realpathSync(os.tmpdir())
  const packDir = fs.mkdtempSync(path.join(tmp, "pack-smoke-tarballs-"))
  const consumer = fs.mkdtempSync(path.join(tmp, "pack-smoke-consumer-"))
  try {
    const tarballs = []
    for (const pkg of discover()) {
      check(`${pkg.manifest.name}: packed with README and LICENSE, no source`, () =>
        tarballs.push([pkg, pack(pkg, packDir)])
      )
    }
    for (const [pkg, tarball] of tarballs)
      check(`${pkg.manifest.name}: exports map, publint and attw`, () => lint(pkg, tarball))
    if (tarballs.length > 0) {
      let checks = []
      check("install the tarballs into a plain project", () => {
        checks = consumerChecks(
          consumer,
          tarballs.map(([, tarball]) => tarball)
        )
      })
      for (const [name, body] of checks) check(name, body)
    }
  } finally {
    for (const dir of [packDir, consumer]) {
      if (keep) log(`kept ${dir}`)
      else fs.rmSync(dir, { recursive: true, force: true })
    }
  }
  const passed = results.filter(Boolean).length
  console.log(`pack-smoke: ${passed} passed, ${results.length - passed} failed`)
  return results.length > 0 && passed === results.length ? 0 : 1
}

process.exitCode = main()
