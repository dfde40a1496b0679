/**
 * The `exports` map of a publishable package, from its public modules: one entry per
 * `src/<Module>.ts` (the entry point `src/index.ts` as "."), each with the in-repo "source"
 * condition (tests, the type check and the demo run the TypeScript sources), then `import` and
 * `require` builds with their declarations. No pattern entry: a pattern's "source" target would
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

export const exportsFor = (dir) => {
  const exports = { ".": entry("index") }
  for (const module of publicModules(dir)) if (module !== "index") exports[`./${module}`] = entry(module)
  exports["./package.json"] = "./package.json"
  return exports
}
