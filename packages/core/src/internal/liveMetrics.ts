import type * as S from "../CircuitBreakerState.js"
import { modeOf } from "../CircuitBreakerState.js"
import type { LiveMetrics, MetricsRecorder } from "./metricsRecorder.js"

const NOT_COUNTING = { failureRate: -1, slowCallRate: -1 } as const

/**
 * The metrics a snapshot reads from the circuit's state: the sliding window's rates as of
 * `now` (-1 below `minimumNumberOfCalls`, without a window, or when the circuit is not Closed)
 * and the mode.
 */
export const liveMetrics = (policy: S.Policy<any>, state: S.CircuitState<unknown>, now: number): LiveMetrics => {
  const stats = policy.rule.stats
  const rates = state._tag === "Closed" && stats !== undefined ? stats(state.tally, now) : NOT_COUNTING
  return { failureRate: rates.failureRate, slowCallRate: rates.slowCallRate, mode: modeOf(state) }
}

/**
 * What an executor counts after recording an attempt: a slow call (longer than `slowMs`), and
 * the window's rates for their gauges. Nothing for a breaker without a window.
 */
export const countOutcome = (
  recorder: Pick<MetricsRecorder, "slow" | "window"> | undefined,
  policy: S.Policy<any>,
  state: S.CircuitState<unknown>,
  durationMs: number | undefined,
  slowMs: number | undefined
): void => {
  if (recorder === undefined || policy.rule.stats === undefined) return
  if (slowMs !== undefined && durationMs !== undefined && durationMs > slowMs) recorder.slow()
  if (state._tag === "Closed") {
    const stats = policy.rule.stats(state.tally)
    recorder.window(stats.failureRate, stats.slowCallRate)
  }
}
