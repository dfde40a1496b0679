/**
 * Small statistics shared by the soak and the scale run.
 */

/** The `q` quantile (0–1) of `xs`, nearest rank; NaN when empty. */
export const quantile = (xs: ReadonlyArray<number>, q: number): number => {
  if (xs.length === 0) return Number.NaN
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

export const median = (xs: ReadonlyArray<number>): number => quantile(xs, 0.5)

/** A number for a table: at most one decimal, or none from 100 up; "–" for NaN. */
export const fmt = (x: number, unit = ""): string =>
  Number.isNaN(x) ? "–" : `${Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(1)}${unit}`

/** A Markdown table. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  [header, header.map(() => "---"), ...rows].map((row) => `| ${row.join(" | ")} |`).join("\n")
