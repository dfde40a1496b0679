/**
 * The one list of test projects. The root `vitest.config.ts` imports it into `test.projects`
 * (vitest 3.2 deprecates a workspace file read on its own).
 */
export default ["packages/core", "packages/promise", "packages/redis", "packages/monitor"]
