import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it, vi } from "vitest"
import { resolveTarget } from "../src/internal/distributed.js"

describe("the Redis target of distributedTracking", () => {
  afterEach(() => {
    vi.unstubAllEnvs()
  })

  const dirWith = (dotEnv: string): string => {
    const dir = mkdtempSync(join(tmpdir(), "dotenv-"))
    writeFileSync(join(dir, ".env"), dotEnv)
    return dir
  }

  it("reads REDIS_URL from a .env file with Node's parser: export, quotes and comments", () => {
    vi.stubEnv("REDIS_URL", "")
    const dir = dirWith('# shared cache\nOTHER=1\nexport REDIS_URL="redis://user:secret@cache:6380/2" # primary\n')
    expect(resolveTarget(undefined, dir)).toEqual({ _tag: "Url", url: "redis://user:secret@cache:6380/2" })
  })

  it("prefers REDIS_URL from the environment, and leaves the environment as it was", () => {
    vi.stubEnv("REDIS_URL", "redis://from-env:6379")
    const dir = dirWith("REDIS_URL=redis://from-file:6379\nOTHER=1\n")
    expect(resolveTarget(undefined, dir)).toEqual({ _tag: "Url", url: "redis://from-env:6379" })
    expect(process.env.OTHER).toBeUndefined()
  })

  it("without REDIS_URL anywhere, a config error naming redis", () => {
    vi.stubEnv("REDIS_URL", "")
    expect(() => resolveTarget(undefined, dirWith("OTHER=1\n"))).toThrow(expect.objectContaining({ option: "redis" }))
  })
})
