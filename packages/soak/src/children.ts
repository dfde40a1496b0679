/**
 * Child Node processes run from the TypeScript sources (tsx), for the soak and the scale run: started, told to stop,
 * and killed by pid if they do not exit in time, or when this process ends.
 */
import { type ChildProcess, fork } from "node:child_process"
import { fileURLToPath } from "node:url"

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url))

export interface Child {
  readonly process: ChildProcess
  readonly pid: number
  /** The last lines of its stdout and stderr. */
  readonly output: () => string
  /** Sends `"stop"`; resolves once it exited, with whether it did so by itself within `graceMs` (else SIGKILL). */
  readonly stop: (graceMs: number) => Promise<{ readonly exitCode: number | null; readonly byItself: boolean }>
}

const live = new Set<ChildProcess>()
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL")
})

/** Forks `script` with `args`, and resolves once it sends `"ready"` (rejects if it exits first or is not ready). */
export const startChild = (
  script: string,
  args: ReadonlyArray<string>,
  options: { readonly readyWithinMs?: number; readonly onMessage?: (message: unknown) => void } = {}
): Promise<Child> =>
  new Promise((resolve, reject) => {
    const child = fork(script, [...args], {
      cwd: repoRoot,
      execArgv: ["--import", "tsx", "--conditions=source", "--expose-gc"],
      stdio: ["ignore", "pipe", "pipe", "ipc"]
    })
    live.add(child)
    let output = ""
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-4_096)
    }
    child.stdout!.on("data", collect)
    child.stderr!.on("data", collect)
    const exited = new Promise<number | null>((done) =>
      child.once("exit", (code) => {
        live.delete(child)
        done(code)
      })
    )
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`${script} not ready within ${options.readyWithinMs ?? 30_000} ms:\n${output}`))
    }, options.readyWithinMs ?? 30_000)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`${script} exited (${code}) before it was ready:\n${output}`))
    })
    child.on("message", (message) => {
      if (message !== "ready") return options.onMessage?.(message)
      clearTimeout(timer)
      resolve({
        process: child,
        pid: child.pid!,
        output: () => output,
        stop: async (graceMs) => {
          if (child.connected) child.send("stop")
          const killer = setTimeout(() => child.kill("SIGKILL"), graceMs)
          const exitCode = await exited
          clearTimeout(killer)
          return { exitCode, byItself: child.signalCode !== "SIGKILL" }
        }
      })
    })
  })
