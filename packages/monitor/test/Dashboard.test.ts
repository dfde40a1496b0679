/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core. It saves a
 * screenshot to build/dashboard.png; with UPDATE_SCREENSHOT=1 it also refreshes the one the
 * README shows (docs/dashboard.png).
 */
import { copyFileSync, mkdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { CircuitBreaker } from "@circuit-breaker/core"
import { CircuitMonitor } from "@circuit-breaker/monitor"
import { createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
import { expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { type Browser, chromium } from "playwright-core"
import { monitorEventLoopLag, PATIENCE } from "../../redis/test/utils/busyMachine.js"
import { down } from "./utils/errors.js"
import { chromiumPath, describeWith } from "./utils/tools.js"

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..")

/** A few seconds of traffic: successes of varied latency, some failures, one circuit tripped. */
const traffic = async (names: { payments: string; search: string; inventory: string }, until: number) => {
  const payments = Effect.runSync(CircuitBreaker.make({ name: names.payments, maxRetries: 0, failureThreshold: 50 }))
  const search = createAdvancedCircuitBreaker(
    async (ms: number) => {
      await new Promise((resolve) => setTimeout(resolve, ms))
      if (ms > 40) throw new Error("upstream timed out (HTTP 504)")
      return ms
    },
    { name: names.search, maxRetries: 0, failureThreshold: 1000 }
  )
  const inventory = Effect.runSync(CircuitBreaker.make({ name: names.inventory, maxRetries: 0, failureThreshold: 2 }))
  await Effect.runPromise(Effect.either(inventory.execute(Effect.fail(down("connection refused: inventory-db:5432")))))
  await Effect.runPromise(Effect.either(inventory.execute(Effect.fail(down("connection refused: inventory-db:5432")))))
  let i = 0
  while (Date.now() < until) {
    i++
    await Effect.runPromise(Effect.either(payments.execute(Effect.sleep(`${2 + (i % 7)} millis`))))
    await search.execute(i % 11 === 0 ? 45 : 5 + (i % 20)).catch(() => undefined)
  }
  return { payments, search, inventory }
}

describeWith("chromium", chromiumPath, "dashboard in Chromium", () => {
  it("shows the circuits, turns a row Open within 1 s of a trip made through the API, and back on reset", async () => {
    const names = { payments: "payments-api", search: "search-service", inventory: "inventory-db" }
    const monitor = await CircuitMonitor.serve({ port: 0 })
    let browser: Browser | undefined
    try {
      browser = await chromium.launch({
        executablePath: chromiumPath!,
        // The sandbox needs user namespaces, which CI (run as root) does not have.
        args: ["--no-sandbox", "--disable-dev-shm-usage"]
      })
      const page = await browser.newPage({ viewport: { width: 1200, height: 640 } })
      const busy = traffic(names, Date.now() + 3500)
      await page.goto(monitor.url)
      const row = (name: string, state?: string) =>
        `tr[data-circuit="${name}"]${state === undefined ? "" : `[data-state="${state}"]`}`
      await page.waitForSelector(row(names.payments), { timeout: 10_000 })
      await page.waitForSelector(row(names.inventory, "Open"), { timeout: 10_000 })
      const { payments } = await busy
      // The failure rate and the percentiles come from the per-second outcomes the page received.
      await page.waitForFunction(
        // Runs in the page: `document` is the browser's.
        (selector) =>
          /ms$/.test(
            (
              globalThis as unknown as { document: { querySelector(s: string): { textContent: string } | null } }
            ).document.querySelector(selector)?.textContent ?? ""
          ),
        `${row(names.search)} td:nth-child(6)`,
        { timeout: 5000 }
      )
      expect(await page.textContent(`${row(names.search)} td:nth-child(5)`)).toMatch(/^\d+\.\d %$/)
      expect(await page.getAttribute(row(names.payments), "data-state")).toBe("Closed")
      expect(await page.textContent(row(names.payments))).toContain("payments-api")

      const tripped = await fetch(`${monitor.url}circuits/${names.payments}/trip`, { method: "POST" })
      expect(tripped.status).toBe(200)
      // Within 1 s of the time this process could run: on a busy machine its stalls do not count.
      const lag = monitorEventLoopLag()
      const started = Date.now()
      await page.waitForSelector(row(names.payments, "Open"), { timeout: PATIENCE })
      const seenAfter = await Effect.runPromise(lag.running(started, Date.now()))
      lag.stop()
      expect(seenAfter).toBeLessThan(1000)
      expect(await page.textContent("#timeline")).toContain(`${names.payments}: Closed → Open`)
      expect(await page.textContent("#failures")).toContain("connection refused")

      // The policies column: a window's failure rate from the snapshot, a mode set later from the per-second frame.
      const windowed = Effect.runSync(
        CircuitBreaker.make({
          name: "orders-window",
          maxRetries: 0,
          failureRateThreshold: 50,
          slidingWindowSize: 10,
          minimumNumberOfCalls: 4
        })
      )
      for (const effect of [Effect.fail(down("down")), Effect.succeed(1), Effect.succeed(2), Effect.succeed(3)]) {
        await Effect.runPromise(Effect.either(windowed.execute(effect)))
      }
      const policies = `${row("orders-window")} td.policies`
      await page.waitForSelector(policies, { timeout: 5000 })
      expect(await page.textContent(policies)).toBe("failure rate 25.0 % · slow-call rate 0.0 %")
      Effect.runSync(windowed.setMode("forcedClosed"))
      await page.waitForFunction(
        (selector) =>
          (
            globalThis as unknown as { document: { querySelector(s: string): { textContent: string } | null } }
          ).document.querySelector(selector)?.textContent === "forcedClosed",
        policies,
        { timeout: 5000 }
      )

      mkdirSync(join(packageDir, "build"), { recursive: true })
      const shot = join(packageDir, "build", "dashboard.png")
      await page.screenshot({ path: shot, fullPage: true })
      if (process.env.UPDATE_SCREENSHOT === "1") copyFileSync(shot, join(packageDir, "docs", "dashboard.png"))

      await fetch(`${monitor.url}circuits/${names.payments}/reset`, { method: "POST" })
      await page.waitForSelector(row(names.payments, "Closed"), { timeout: PATIENCE })
      expect(Effect.runSync(payments.state)._tag).toBe("Closed")
    } finally {
      await browser?.close()
      await monitor.close()
    }
  })
  it("with a token, the page asks for it, then shows the circuits; the token is in no page or URL", async () => {
    const token = "dashboard-secret-token"
    const name = "token-guarded"
    const breaker = Effect.runSync(CircuitBreaker.make({ name }))
    const monitor = await CircuitMonitor.serve({ port: 0, token })
    let browser: Browser | undefined
    try {
      browser = await chromium.launch({
        executablePath: chromiumPath!,
        args: ["--no-sandbox", "--disable-dev-shm-usage"]
      })
      const page = await browser.newPage()
      const response = await page.goto(monitor.url)
      expect(response?.status()).toBe(401)
      await page.waitForSelector("#login", { state: "visible", timeout: 10_000 })
      expect(await page.$(`tr[data-circuit="${name}"]`)).toBeNull()
      await page.fill("#token", token)
      await page.click("#login button")
      await page.waitForSelector(`tr[data-circuit="${name}"][data-state="Closed"]`, { timeout: 10_000 })
      expect(await page.content()).not.toContain(token)
      expect(page.url()).not.toContain(token)
      expect(breaker.name).toBe(name)
    } finally {
      await browser?.close()
      await monitor.close()
    }
  })
})
