/**
 * The soak's settings, from the environment (every one has a default; `npm run soak` needs none).
 */

/** What each worker process is told. */
export interface WorkerSettings {
  readonly redisUrl: string
  readonly logPath: string
  readonly circuit: string
  readonly callsPerSecond: number
  readonly storeTimeoutMs: number
  readonly failureThreshold: number
  readonly successThreshold: number
  readonly maxConcurrentTrials: number
  readonly resetTimeoutMs: number
  /** The service is down for the first `serviceDownMs` of every `serviceCycleMs` (on the shared clock). */
  readonly serviceCycleMs: number
  readonly serviceDownMs: number
  readonly serviceMinMs: number
  readonly serviceMaxMs: number
}

export interface SoakSettings {
  readonly seconds: number
  readonly processes: number
  readonly outDir: string | undefined
  readonly worker: Omit<WorkerSettings, "redisUrl" | "logPath">
}

const intFromEnv = (name: string, fallback: number, min: number, max: number): number => {
  const raw = process.env[name]
  if (raw === undefined || raw === "") return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`)
  }
  return value
}

export const soakSettings = (): SoakSettings => ({
  seconds: intFromEnv("SOAK_SECONDS", 180, 30, 3_600),
  processes: intFromEnv("SOAK_PROCESSES", 4, 2, 32),
  outDir: process.env.SOAK_OUT === "" ? undefined : process.env.SOAK_OUT,
  worker: {
    circuit: "soak",
    callsPerSecond: intFromEnv("SOAK_RATE", 150, 1, 2_000),
    storeTimeoutMs: 250,
    failureThreshold: 5,
    successThreshold: 2,
    maxConcurrentTrials: 2,
    resetTimeoutMs: 1_500,
    serviceCycleMs: 7_000,
    serviceDownMs: 1_200,
    serviceMinMs: 2,
    serviceMaxMs: 12
  }
})
