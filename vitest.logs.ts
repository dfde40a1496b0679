/**
 * Keeps the test output free of log lines no test asked for: Effect's default logger prints
 * each line as logfmt (`timestamp=… level=…`) on the console. A test that checks logs replaces
 * the logger (`Logger.replace`) or spies on the console, so its lines never reach this filter.
 */
export const dropDefaultEffectLogs = (log: string): false | undefined =>
  /^timestamp=\S+ level=[A-Z]+ /.test(log) ? false : undefined
