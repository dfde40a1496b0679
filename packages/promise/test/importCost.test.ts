/**
 * What the Promise API loads, in a fresh Node process (the sources through tsx, as the package's
 * build loads them): the import of `@circuit-breaker/promise`, then a breaker made and called.
 * Not timed: the modules are listed, and the heavy ones must not be among them. The import time
 * itself is measured by `npm run bench` (the start-up rows).
 *
 * The heavy modules, and why each is left out of the plain-Promise path:
 * - effect's index: deep imports from `effect/*` submodules only;
 * - `internal/core` (with `Data`, `Effect`, `Exit`, `Cause`, `Layer`, `Stream`, `Logger`): the
 *   fiber runtime, some sixty modules; the errors are built without it and no call runs a fiber;
 * - `Metric*`: Effect metrics attach only once something in the process uses them;
 * - `Schema`: options are validated by plain functions;
 * - `Schedule`: the built-in backoffs are pure arithmetic, a custom Schedule loads it when given;
 * - `@circuit-breaker/redis`, `node:fs`, `node:path`, `node:util`: the Redis store and the `.env`
 *   file are read only by a breaker with `distributedTracking`.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { runInFreshProcess } from "./utils/freshProcess.js"

const here = dirname(fileURLToPath(import.meta.url))
const effectModule = /\/node_modules\/effect\/dist\/esm\/(.+)$/

/** The effect modules (paths under its `dist/esm`) that no plain-Promise breaker loads. */
const heavyEffectModule = (path: string): boolean =>
  path === "index.js" ||
  path === "internal/core.js" ||
  /^(Data|Effect|Exit|Cause|Layer|Stream|Logger|Schema|Schedule|ScheduleIntervals)\.js$/.test(path) ||
  /^(internal\/)?metric/i.test(path) ||
  /^internal\/(schema|schedule)\b/.test(path)

const heavyOther = (url: string): boolean =>
  url.includes("/packages/redis/") || ["node:fs", "node:path", "node:util"].includes(url)

/** Runs `script` (an ES module body) in a fresh process; the URLs of the modules it loaded, in order. */
const modulesLoadedBy = async (script: string): Promise<ReadonlyArray<string>> => {
  const dir = mkdtempSync(join(tmpdir(), "promise-import-"))
  const file = join(dir, "loaded.txt")
  try {
    await runInFreshProcess(script, {
      preload: [join(here, "fixtures", "loadTrace.mjs")],
      env: { LOAD_TRACE_FILE: file }
    })
    return readFileSync(file, "utf8").trim().split("\n")
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const effectModulesOf = (urls: ReadonlyArray<string>): ReadonlyArray<string> =>
  urls.flatMap((url) => {
    const match = effectModule.exec(url)
    return match === null ? [] : [match[1]!]
  })

const expectLight = (urls: ReadonlyArray<string>): void => {
  // The trace saw the package and the light effect modules it does use: it is not empty by mistake.
  expect(urls.some((url) => url.endsWith("/packages/promise/src/index.ts"))).toBe(true)
  const effect = effectModulesOf(urls)
  expect(effect).toContain("Duration.js")
  expect(effect.filter(heavyEffectModule)).toEqual([])
  expect(urls.filter(heavyOther)).toEqual([])
}

describe("what the Promise API loads", () => {
  it("importing @circuit-breaker/promise loads no heavy effect module, no Redis and no file access", async () => {
    expectLight(await modulesLoadedBy(`await import("@circuit-breaker/promise")`))
  }, 90_000)

  it("nor does a breaker that is made, succeeds, fails, retries and is read", async () => {
    const urls = await modulesLoadedBy(`
      import { createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
      const breaker = createAdvancedCircuitBreaker(
        async (fail) => { if (fail) throw new Error("down"); return 1 },
        { name: "traced", timeout: 1000, maxRetries: 1, retryDelay: 1, failureRateThreshold: 50, minimumNumberOfCalls: 2 }
      )
      await breaker.execute(false)
      await breaker.execute(true).catch(() => {})
      if (breaker.getMetrics().totalCalls !== 2) throw new Error("the breaker did not count its calls")
      await breaker.dispose()
    `)
    expectLight(urls)
  }, 90_000)

  it("the list of heavy modules catches what the Effect API loads", async () => {
    // The same check on a graph that has them: the patterns above name real modules.
    const effect = effectModulesOf(await modulesLoadedBy(`await import("@circuit-breaker/core/CircuitBreaker")`))
    for (const path of ["internal/core.js", "Data.js", "Effect.js", "MetricKey.js", "Schedule.js"]) {
      expect(effect).toContain(path)
      expect(heavyEffectModule(path)).toBe(true)
    }
  }, 90_000)
})
