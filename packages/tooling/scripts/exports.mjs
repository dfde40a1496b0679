/**
 * The `exports` map of a publishable package, from its public modules: one entry per
 * `src/<Module>.ts` (the entry point `src/index.ts` as "."), each with the in-repo "source"
 * condition (tests, the type check and the demo run the TypeScript sources), then `import` and
 * `require` builds with their declarations; a module that the package's `bin` runs has none. No pattern entry: a pattern's "source" target would
 * not exist in the tarball, and a module without an entry stays private.
 */
import fs from "node:fs"
import path from "node:path"

const entry = (module) => ({
  source: `./src/${module}.ts`,
  import: { types: `./dist/${module}.d.ts`, default: `./dist/${module}.js` },
  require: { types: `./dist/cjs/${module}.d.ts`, default: `./dist/cjs/${module}.js` }
})

/** The public modules of the package in `dir`: `src/*.ts`, by name. */
export const publicModules = (dir) =>
  fs
    .readdirSync(path.join(dir, "src"))
    .filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"))
    .map((file) => file.slice(0, -3))
    .sort()

/** The modules a package's `bin` runs: commands, not modules to import. */
const binModules = (dir) => {
  const { bin } = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"))
  const targets = typeof bin === "string" ? [bin] : Object.values(bin ?? {})
  return new Set(targets.map((target) => path.basename(target).replace(/\.js$/, "")))
}

export const exportsFor = (dir) => {
  const exports = { ".": entry("index") }
  const commands = binModules(dir)
  for (const module of publicModules(dir)) {
    if (module !== "index" && !commands.has(module)) exports[`./${module}`] = entry(module)
  }
  exports["./package.json"] = "./package.json"
  return exports
}
