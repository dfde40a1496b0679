/**
 * `npm run soak`: SOAK_PROCESSES Node processes (default 4) share one circuit through one redis-server started here,
 * for SOAK_SECONDS (default 180), while the fault driver injects faults; then the checker prints PASS/FAIL per
 * invariant. Process 0 reaches Redis through a TCP proxy, for the faults of one process's network. The logs stay in
 * SOAK_OUT (default: a new directory under the system's temp directory). Exits non-zero when an invariant fails.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { startRedisServer } from "../../redis/test/utils/redisProcess.js"
import { check, type WorkerRun } from "./check.js"
import { type Child, startChild } from "./children.js"
import { COOL_DOWN_MS, driveFaults, WARM_UP_MS } from "./faults.js"
import { describeMachine } from "./machine.js"
import { startFaultyLink } from "./proxy.js"
import { monotonicNow, readRecords } from "./records.js"
import { soakSettings, type WorkerSettings } from "./settings.js"
import { table } from "./stats.js"

const workerScript = fileURLToPath(new URL("./worker.ts", import.meta.url))
const progress = (line: string) => process.stderr.write(`soak: ${line}\n`)
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const outDirOf = (configured: string | undefined): string => {
  if (configured === undefined) return mkdtempSync(join(tmpdir(), "soak-"))
  mkdirSync(configured, { recursive: true })
  return configured
}

const main = async () => {
  const settings = soakSettings()
  const outDir = outDirOf(settings.outDir)
  const machine = describeMachine()
  progress(`${settings.processes} processes, ${settings.seconds} s, logs in ${outDir}`)
  const server = await startRedisServer()
  const proxy = await startFaultyLink(server)
  const workers: Array<{ readonly child: Child; readonly logPath: string }> = []
  try {
    for (let i = 0; i < settings.processes; i++) {
      const logPath = join(outDir, `process-${i}.jsonl`)
      writeFileSync(logPath, "")
      const worker: WorkerSettings = { ...settings.worker, redisUrl: i === 0 ? proxy.url : server.url, logPath }
      workers.push({ child: await startChild(workerScript, [JSON.stringify(worker)]), logPath })
    }
    const start = monotonicNow()
    progress(`started (pids ${workers.map((w) => w.child.pid).join(", ")}); injecting faults`)
    const faults = await driveFaults(server, proxy, start, settings.seconds, (fault) =>
      progress(`${fault.name}: ${fault.detail} (${Math.round(fault.end - fault.start)} ms)`)
    )
    await sleep(Math.max(COOL_DOWN_MS / 2, start + settings.seconds * 1_000 - monotonicNow()))
    const stopped = await Promise.all(workers.map((w) => w.child.stop(5_000)))
    const runs: Array<WorkerRun> = workers.map((w, i) => ({
      records: readRecords(w.logPath),
      exitCode: stopped[i]!.exitCode,
      exitedByItself: stopped[i]!.byItself
    }))
    const verdicts = check({ settings: settings.worker, workers: runs, faults, warmUpEnd: start + WARM_UP_MS })
    const report = [
      `## Soak: ${settings.processes} processes, ${settings.seconds} s, ${faults.length} faults`,
      "",
      ...machine.map((line) => `${line}  `),
      "",
      table(
        ["invariant", "result", "measured"],
        verdicts.map((v) => [v.invariant, v.pass ? "PASS" : "**FAIL**", v.measured])
      ),
      "",
      `Faults: ${faults.map((f) => f.name).join(", ")}.`
    ].join("\n")
    writeFileSync(join(outDir, "faults.json"), JSON.stringify(faults, null, 2))
    writeFileSync(join(outDir, "report.md"), `${report}\n`)
    process.stdout.write(`${report}\n`)
    for (const [i, w] of workers.entries()) {
      if (stopped[i]!.exitCode !== 0) progress(`process ${i} output:\n${w.child.output()}`)
    }
    process.exitCode = verdicts.every((v) => v.pass) ? 0 : 1
  } finally {
    await Promise.all(workers.map((w) => w.child.stop(1_000)))
    await proxy.close()
    await server.stop()
  }
}

main().catch((error: unknown) => {
  progress(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  process.exitCode = 2
})
