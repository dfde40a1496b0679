#!/usr/bin/env node
/**
 * sync-exports: writes each publishable package's `exports` map from its public modules
 * (see exports.mjs). Run it after adding or removing a `src/<Module>.ts`; `npm run test:pack`
 * fails while a package's map is out of date.
 *
 * Usage: node scripts/sync-exports.mjs
 */
import fs from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { exportsFor } from "./exports.mjs"

const packages = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")
for (const name of fs.readdirSync(packages)) {
  const file = path.join(packages, name, "package.json")
  if (!fs.existsSync(file)) continue
  const manifest = JSON.parse(fs.readFileSync(file, "utf8"))
  if (manifest.private === true) continue
  const exports = exportsFor(path.join(packages, name))
  if (JSON.stringify(manifest.exports) === JSON.stringify(exports)) continue
  fs.writeFileSync(file, `${JSON.stringify({ ...manifest, exports }, null, 2)}\n`)
  console.log(`sync-exports: ${manifest.name}: ${Object.keys(exports).length} entries`)
}
