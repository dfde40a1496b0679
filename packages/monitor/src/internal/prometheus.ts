import { CircuitBreakerMetrics, LiveCircuits } from "@circuit-breaker/core"
import { addSeries, worse } from "./aggregate.js"
import type { Circuit } from "./circuits.js"

type StateName = CircuitBreakerMetrics.StateName
type Series = LiveCircuits.MetricSeries

/** One circuit's figures: the sums over its live breakers (several breakers may share a circuit). */
interface Row {
  readonly name: string
  readonly state: StateName
  readonly series: Series | undefined
}

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
    const seen = rows.get(circuit.name)
    rows.set(
      circuit.name,
      seen === undefined
        ? { name: circuit.name, state, series }
        : {
            name: circuit.name,
            state: worse(seen.state, state),
            series:
              seen.series === undefined ? series : series === undefined ? seen.series : addSeries(seen.series, series)
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
  ["retries", "retries"]
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
 * The Prometheus text exposition (format 0.0.4) of every circuit: the state gauge for each,
 * and the counters, the transitions and the call-duration histogram for those that count.
 */
export const render = (circuits: ReadonlyArray<Circuit>): string => {
  const rows = rowsOf(circuits).map((row) => ({ ...row, label: `circuit="${escapeLabel(row.name)}"` }))
  const counted = rows.filter((row) => row.series !== undefined)
  const lines: Array<string> = []
  header(lines, definitions.state)
  for (const row of rows) {
    lines.push(`${definitions.state.name}{${row.label}} ${CircuitBreakerMetrics.stateGaugeValue(row.state)}`)
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
