/**
 * Runs `fixtures/undisposed.ts` (a Redis-mode Promise breaker called and never disposed) in a child process against
 * `target` (a Redis URL, or `cluster:<port>,<port>,...`): its output, and whether it exited on its own within 20 s.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const fixture = fileURLToPath(new URL("../fixtures/undisposed.ts", import.meta.url))
const repoRoot = fileURLToPath(new URL("../../../..", import.meta.url))

export const runUndisposed = (target: string): Promise<{ readonly output: string; readonly exited: boolean }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--conditions=source", fixture, target], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (chunk) => (output += chunk))
    child.stderr.on("data", (chunk) => (output += chunk))
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      resolve({ output, exited: false })
    }, 20_000)
    child.on("exit", () => {
      clearTimeout(timer)
      resolve({ output, exited: true })
    })
  })
