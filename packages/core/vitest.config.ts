import { defineProject } from "vitest/config"

export default defineProject({
  // Vite 6+ resolves for vitest's node tests with `ssr.resolve.conditions`; `resolve.conditions` alone is ignored
  // there, and the workspace packages would then load from dist (stale, or missing on a fresh clone).
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    name: "core",
    include: ["test/**/*.test.ts"],
    setupFiles: ["./test/setup.ts"],
    fakeTimers: { toFake: undefined },
    // On a loaded machine a property test's hundreds of runs can take several times vitest's default 5 s.
    testTimeout: 60_000
  }
})
