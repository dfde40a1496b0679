import { describe, expect, it } from "@effect/vitest"
import * as Deadlines from "../src/Deadlines.js"

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const now = () => performance.now()

describe("Deadlines", () => {
  it("expires deadlines in order, once each, with one timer", async () => {
    const list = new Deadlines.Deadlines(now)
    const fired: Array<string> = []
    const start = now()
    list.add(start + 30, () => fired.push("b"))
    list.add(start + 10, () => fired.push("a"))
    list.add(start + 50, () => fired.push("c"))
    await sleep(80)
    expect(fired).toStrictEqual(["a", "b", "c"])
  })

  it("a removed deadline never expires; removing twice is harmless", async () => {
    const list = new Deadlines.Deadlines(now)
    const fired: Array<string> = []
    const entry = list.add(now() + 10, () => fired.push("removed"))
    list.add(now() + 20, () => fired.push("kept"))
    list.remove(entry)
    list.remove(entry)
    await sleep(40)
    expect(fired).toStrictEqual(["kept"])
  })

  it("expireAll expires every pending deadline at once, in deadline order, Infinity ones included", () => {
    const list = new Deadlines.Deadlines(now)
    const fired: Array<string> = []
    list.add(Infinity, () => fired.push("never"))
    list.add(now() + 10_000, () => fired.push("later"))
    list.expireAll()
    expect(fired).toStrictEqual(["later", "never"])
  })

  it("finite deadlines expire in order among calls that have none (Infinity), which only expireAll ends", async () => {
    const list = new Deadlines.Deadlines(now)
    const fired: Array<string> = []
    const start = now()
    const never = Array.from({ length: 1000 }, (_, i) => list.add(Infinity, () => fired.push(`never ${i}`)))
    list.add(start + 30, () => fired.push("retry b"))
    const removed = list.add(start + 20, () => fired.push("removed"))
    list.add(start + 10, () => fired.push("retry a"))
    list.remove(removed)
    list.add(start + 40, () => fired.push("retry c"))
    await sleep(70)
    expect(fired).toStrictEqual(["retry a", "retry b", "retry c"])
    list.remove(never[0]!)
    list.expireAll()
    expect(fired.length).toBe(3 + 999)
    expect(fired.at(-1)).toBe("never 999")
  })

  it("a deadline beyond a Node timer's range (30 days) waits: no TimeoutOverflowWarning, no early expiry", async () => {
    const warnings: Array<string> = []
    const onWarning = (warning: Error) => warnings.push(warning.name)
    process.on("warning", onWarning)
    try {
      const list = new Deadlines.Deadlines(now)
      let fired = false
      const entry = list.add(now() + 30 * 24 * 60 * 60 * 1000, () => {
        fired = true
      })
      await sleep(30)
      expect(fired).toBe(false)
      expect(warnings).toStrictEqual([])
      list.remove(entry)
    } finally {
      process.off("warning", onWarning)
    }
  })
})
