/** A positive integer from the environment, or `fallback` when unset or invalid. */
export const envInt = (name: string, fallback: number): number => {
  const value = Number(process.env[name])
  return Number.isInteger(value) && value > 0 ? value : fallback
}
