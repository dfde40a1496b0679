/**
 * Counts live timers, unref'd ones included (`process.getActiveResourcesInfo()` lists only
 * those that keep the process alive). Installed in the memory child processes only, before
 * any library is loaded: the timing runs use the untouched functions.
 */

const live = new Set<NodeJS.Timeout>()

type TimerFn = (...args: Array<any>) => NodeJS.Timeout

const track = (original: TimerFn): TimerFn =>
  function (this: unknown, ...args: Array<any>) {
    const timer = original.apply(this, args)
    live.add(timer)
    return timer
  }

export const installTimerCounter = (): void => {
  const g = globalThis as unknown as Record<"setTimeout" | "setInterval", TimerFn>
  g.setTimeout = Object.assign(track(g.setTimeout), g.setTimeout)
  g.setInterval = Object.assign(track(g.setInterval), g.setInterval)
}

/** Timers neither cleared nor fired (for an interval: not cleared), ref'd or not. */
export const liveTimers = (): number => {
  let count = 0
  for (const timer of live) {
    if ((timer as unknown as { _destroyed: boolean })._destroyed) live.delete(timer)
    else count++
  }
  return count
}

/** Timers that keep the process alive, as Node reports them. */
export const activeTimeouts = (): number => process.getActiveResourcesInfo().filter((type) => type === "Timeout").length
