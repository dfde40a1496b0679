import { defineProject } from "vitest/config"

export default defineProject({
  // The workspace packages load from their sources (see packages/redis/vitest.config.ts).
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    name: "monitor",
    include: ["test/**/*.test.ts"],
    setupFiles: ["./test/setup.ts"],
    fakeTimers: { toFake: undefined },
    // Real servers, browsers and CLI processes are started here: give each test room.
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
