/**
 * What a run was measured on, and at which commit: the header of the soak's and the scale run's reports.
 */
import { execFileSync } from "node:child_process"
import * as os from "node:os"

const quietly = (file: string, args: ReadonlyArray<string>): string => {
  try {
    return execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
  } catch {
    return "?"
  }
}

export const describeMachine = (): ReadonlyArray<string> => {
  const commit = quietly("git", ["rev-parse", "--short", "HEAD"])
  const dirty = quietly("git", ["status", "--porcelain", "--untracked-files=no"]) === "" ? "" : " (with local changes)"
  const redis = /v=(\S+)/.exec(quietly("redis-server", ["--version"]))?.[1] ?? "?"
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")
  return [
    `Date: ${new Date().toISOString()}; commit ${commit}${dirty}`,
    `Machine: ${os.cpus()[0]?.model ?? "?"}, ${os.availableParallelism()} cores, ` +
      `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; load average ${load}`,
    `Node ${process.version}, redis-server ${redis}, ${os.platform()} ${os.release()}`
  ]
}
