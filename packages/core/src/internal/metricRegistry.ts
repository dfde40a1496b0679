import { globalValue } from "effect/GlobalValue"
import * as MetricRegistry from "effect/MetricRegistry"

/**
 * Effect's global metric registry (`Metric.globalMetricRegistry`), reached without loading
 * `effect/Metric` and the runtime it brings: the same global value, under the key Effect
 * registers it with (a test checks that they are one object). Whichever module asks first
 * makes it.
 *
 * @internal
 */
export const globalMetricRegistry: MetricRegistry.MetricRegistry = globalValue(
  Symbol.for("effect/Metric/globalMetricRegistry"),
  () => MetricRegistry.make()
)
