/**
 * Medians, ranges and the table printer.
 */

export interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
}

export const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export const summarize = (xs: ReadonlyArray<number>): Summary => ({
  median: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs)
})

/** Three significant digits or so, never an exponent. */
export const num = (x: number): string => {
  const abs = Math.abs(x)
  if (abs >= 100) return x.toFixed(0)
  if (abs >= 10) return x.toFixed(1)
  return x.toFixed(2)
}

/** `median (min–max)`. */
export const range = (s: Summary, unit = ""): string => `${num(s.median)}${unit} (${num(s.min)}–${num(s.max)})`

/** A Markdown table, padded so that it also reads well in a terminal. */
export const table = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  align: ReadonlyArray<"l" | "r">
): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    `| ${cells.map((c, i) => (align[i] === "r" ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(" | ")} |`
  const rule = `|${widths.map((w, i) => (align[i] === "r" ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2))).join("|")}|`
  return [line(header), rule, ...rows.map(line)].join("\n")
}

export const verdict = (pass: boolean): string => (pass ? "PASS" : "FAIL")

/** A line of the target table: what was measured, against which limit, the ratio, PASS or FAIL. */
export interface Target {
  readonly name: string
  readonly measured: string
  readonly limit: string
  readonly ratio: string
  readonly pass: boolean
  readonly note?: string
}

/** The nearest-rank `p`th percentile of ascending `sorted`. */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
