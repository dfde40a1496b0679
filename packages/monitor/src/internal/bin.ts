#!/usr/bin/env node
/**
 * The `circuit-breaker` command: `status`, `watch`, `trip`, `reset`, `isolate`, `release`.
 * Run `circuit-breaker --help` for the options.
 *
 * @since 0.1.0
 */
import { main } from "./cli.js"

const interrupted = new Promise<void>((resolve) => process.once("SIGINT", () => resolve()))

main(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
  interrupted
}).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`circuit-breaker: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  }
)
