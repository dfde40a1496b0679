import { CircuitBreakerMetrics, type CircuitBreakerState, LiveCircuits } from "@circuit-breaker/core"
import type { LiveMetrics } from "@circuit-breaker/core/MetricsRecorder"
import { addSeries, worse, worseLive } from "./aggregate.js"
import type { Circuit } from "./circuits.js"

type StateName = CircuitBreakerMetrics.StateName
type Series = LiveCircuits.MetricSeries

/**
 * One circuit's figures: the sums over its live breakers (several breakers may share a circuit),
 * the worse of their states, the higher of their rates, and a mode other than `"normal"` if one has it.
 */
interface Row {
  readonly name: string
  readonly state: StateName
  readonly series: Series | undefined
  readonly live: LiveMetrics
}

const modes: ReadonlyArray<CircuitBreakerState.Mode> = [
  "normal",
  "forcedOpen",
  "forcedClosed",
  "disabled",
  "metricsOnly"
]

const definitions = LiveCircuits.metricDefinitions
/** The `le` label of each bucket, ready to append. */
const leLabels = [...LiveCircuits.durationBuckets.map((bound) => `,le="${bound}"} `), ',le="+Inf"} ']

/** A label value with `\`, `"` and newlines escaped, as the text format requires. */
export const escapeLabel = (value: string): string =>
  value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")

const rowsOf = (circuits: ReadonlyArray<Circuit>): Array<Row> => {
  const rows = new Map<string, Row>()
  for (const circuit of circuits) {
    const state = circuit.state()
    const series = circuit.series()
    const live = circuit.live()
    const seen = rows.get(circuit.name)
    rows.set(
      circuit.name,
      seen === undefined
        ? { name: circuit.name, state, series, live }
        : {
            name: circuit.name,
            state: worse(seen.state, state),
            series:
              seen.series === undefined ? series : series === undefined ? seen.series : addSeries(seen.series, series),
            live: worseLive(seen.live, live)
          }
    )
  }
  return [...rows.values()]
}

const counters = [
  ["calls", "calls"],
  ["successes", "successes"],
  ["failures", "failures"],
  ["rejections", "rejections"],
  ["timeouts", "timeouts"],
  ["retries", "retries"],
  ["slowCalls", "slowCalls"],
  ["bulkheadRejections", "bulkheadRejections"],
  ["fallbacks", "fallbackCalls"]
] as const

/** Gauges read from the state: percent (0 to 100), or -1 when not computed (no window, or below minimumNumberOfCalls). */
const rates = [
  ["failureRate", "failureRate"],
  ["slowCallRate", "slowCallRate"]
] as const

const header = (lines: Array<string>, definition: LiveCircuits.MetricDefinition): void => {
  lines.push(`# HELP ${definition.name} ${definition.help}`, `# TYPE ${definition.name} ${definition.type}`)
}

const histogram = (lines: Array<string>, label: string, series: Series): void => {
  const name = definitions.duration.name
  const bucket = `${name}_bucket{${label}`
  let cumulative = 0
  for (let i = 0; i < leLabels.length; i++) {
    cumulative += series.durationBuckets[i] ?? 0
    lines.push(bucket + leLabels[i] + cumulative)
  }
  lines.push(`${name}_sum{${label}} ${series.durationSumSeconds}`, `${name}_count{${label}} ${series.durationCount}`)
}

/**
 * The Prometheus text exposition (format 0.0.4) of every circuit: the state and mode gauges,
 * and the sliding window's rates, for each; the counters, the transitions and the call-duration
 * histogram for those that count. The mode is a state set: one series per mode, 1 for the
 * circuit's, 0 for the others.
 */
export const render = (circuits: ReadonlyArray<Circuit>): string => {
  const rows = rowsOf(circuits).map((row) => ({ ...row, label: `circuit="${escapeLabel(row.name)}"` }))
  const counted = rows.filter((row) => row.series !== undefined)
  const lines: Array<string> = []
  header(lines, definitions.state)
  for (const row of rows) {
    lines.push(`${definitions.state.name}{${row.label}} ${CircuitBreakerMetrics.stateGaugeValue(row.state)}`)
  }
  header(lines, definitions.mode)
  for (const row of rows) {
    for (const mode of modes) {
      lines.push(`${definitions.mode.name}{${row.label},mode="${mode}"} ${row.live.mode === mode ? 1 : 0}`)
    }
  }
  for (const [key, field] of rates) {
    header(lines, definitions[key])
    for (const row of rows) lines.push(`${definitions[key].name}{${row.label}} ${row.live[field]}`)
  }
  for (const [key, field] of counters) {
    header(lines, definitions[key])
    for (const row of counted) lines.push(`${definitions[key].name}{${row.label}} ${row.series![field]}`)
  }
  header(lines, definitions.transitions)
  for (const row of counted) {
    for (const t of row.series!.transitions) {
      lines.push(`${definitions.transitions.name}{${row.label},from="${t.from}",to="${t.to}"} ${t.count}`)
    }
  }
  header(lines, definitions.duration)
  for (const row of counted) histogram(lines, row.label, row.series!)
  return `${lines.join("\n")}\n`
}

/** The content type of the text exposition. */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"
