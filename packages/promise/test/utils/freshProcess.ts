import { execFile } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const testDir = join(dirname(fileURLToPath(import.meta.url)), "..")

/**
 * Runs `script` (an ES module body) in a fresh Node process, on the TypeScript sources (tsx, the `source`
 * condition), after the `preload` modules; resolves with what it printed, or rejects with its stderr.
 */
export const runInFreshProcess = (
  script: string,
  options: { readonly preload?: ReadonlyArray<string>; readonly env?: NodeJS.ProcessEnv } = {}
): Promise<string> =>
  new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      [
        "--import",
        "tsx",
        "--conditions=source",
        ...(options.preload ?? []).flatMap((module) => ["--import", module]),
        "--input-type=module",
        "-e",
        script
      ],
      { cwd: testDir, env: { ...process.env, ...options.env }, timeout: 60_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout))
    )
  )
