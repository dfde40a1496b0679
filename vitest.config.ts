import { defineConfig } from "vitest/config"
import { dropDefaultEffectLogs } from "./vitest.logs.js"
import projects from "./vitest.workspace.js"

export default defineConfig({
  test: {
    projects,
    onConsoleLog: dropDefaultEffectLogs
  }
})
