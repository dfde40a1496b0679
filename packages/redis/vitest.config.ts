import { defineProject } from "vitest/config"

export default defineProject({
  // Vite 6+ resolves for vitest's node tests with `ssr.resolve.conditions`; `resolve.conditions` alone is ignored
  // there, and the workspace packages would then load from dist (stale, or missing on a fresh clone).
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    name: "redis",
    include: ["test/**/*.test.ts"],
    setupFiles: ["./test/setup.ts"],
    fakeTimers: { toFake: undefined },
    // Real servers are started, killed and frozen here: give each test room.
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
