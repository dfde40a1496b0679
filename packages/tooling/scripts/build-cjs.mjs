#!/usr/bin/env node
/**
 * build-cjs: the CommonJS half of a package's dual build, run after `tsc` has written the ESM build to dist/.
 *
 * Every dist/**\/*.js is transformed (not bundled) to CommonJS under dist/cjs/, and every .d.ts is copied there;
 * dist/cjs/package.json says `"type": "commonjs"`, so the same relative specifiers ("./CircuitBreaker.js") resolve to
 * the CommonJS siblings, and a CommonJS TypeScript consumer reads the copied declarations as CommonJS. A dynamic
 * `import()` becomes a `require()`, so the CommonJS graph never loads the ESM copy of a sibling package.
 *
 * Usage (from a package directory): node ../tooling/scripts/build-cjs.mjs
 */
import fs from "node:fs"
import path from "node:path"
import { transformSync } from "esbuild"

const dist = path.resolve("dist")
const out = path.join(dist, "cjs")

const filesUnder = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return full === out ? [] : filesUnder(full)
    return [full]
  })

if (!fs.existsSync(dist)) {
  console.error(`build-cjs: ${dist} does not exist; run tsc first`)
  process.exit(1)
}
fs.rmSync(out, { recursive: true, force: true })
let count = 0
for (const file of filesUnder(dist)) {
  const target = path.join(out, path.relative(dist, file))
  if (file.endsWith(".d.ts")) {
    fs.mkdirSync(path.dirname(target), { recursive: true })
    fs.copyFileSync(file, target)
  } else if (file.endsWith(".js")) {
    const { code } = transformSync(fs.readFileSync(file, "utf8"), {
      format: "cjs",
      platform: "node",
      target: "node20",
      supported: { "dynamic-import": false },
      sourcefile: file
    })
    fs.mkdirSync(path.dirname(target), { recursive: true })
    fs.writeFileSync(target, code)
    count++
  }
}
fs.writeFileSync(path.join(out, "package.json"), `${JSON.stringify({ type: "commonjs" }, null, 2)}\n`)
console.log(`build-cjs: ${count} modules → ${path.relative(process.cwd(), out)}`)
