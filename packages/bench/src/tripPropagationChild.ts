/**
 * The second process of the trip-propagation measurement, forked by `measurePropagation` (tripPropagation.ts) with
 * the Redis URL as its argument: a breaker on the same circuit, reporting when it first reads OPEN, then CLOSED again.
 */
import { Socket } from "node:net"
import { createAdvancedCircuitBreaker } from "@circuit-breaker/promise"
import { HOST } from "./respClient.js"
import { sleep } from "./sleep.js"
import { CHANNEL, type ChildMessage, type ParentMessage, propagationOptions } from "./tripPropagationProtocol.js"

const fn = async (): Promise<number> => 42

const propagationChild = async (url: string): Promise<void> => {
  const send = (message: ChildMessage) => void process.send?.(message)
  process.on("disconnect", () => process.exit(1))
  const breaker = createAdvancedCircuitBreaker(fn, propagationOptions(url))
  while ((await breaker.getDistributedState().catch(() => null)) === null) await sleep(10)
  breaker.getState()
  // A raw subscriber of the store's channel, beside the store's own: when the announcement reached this process.
  let announced: bigint | undefined
  const subscriber = new Socket()
  await new Promise<void>((resolve, reject) => {
    subscriber.once("error", reject)
    subscriber.connect(Number(new URL(url).port), HOST, () => {
      subscriber.write(`*2\r\n$9\r\nSUBSCRIBE\r\n$${CHANNEL.length}\r\n${CHANNEL}\r\n`, () => resolve())
    })
  })
  subscriber.on("data", (chunk: Buffer) => {
    if (chunk.includes("$7\r\nmessage\r\n")) announced ??= process.hrtime.bigint()
  })
  subscriber.unref()
  process.on("message", (message: ParentMessage) => {
    if (message.cmd === "exit") {
      subscriber.destroy()
      void breaker.dispose().finally(() => process.exit(0))
      return
    }
    announced = undefined
    // A poll every millisecond. A setImmediate spin reads sooner, but takes a whole core for itself: on a 2-core
    // machine shared with the parent and redis-server, it made the tail worse in our tries (p99 ~10 ms → ~50 ms).
    const poll = () => {
      if (breaker.getState() === "OPEN") {
        const open = process.hrtime.bigint()
        send({ open: String(open), message: announced === undefined ? null : String(announced) })
        const waitClosed = () => (breaker.getState() === "CLOSED" ? send({ closed: true }) : setTimeout(waitClosed, 1))
        waitClosed()
      } else {
        setTimeout(poll, 0)
      }
    }
    send({ armed: true })
    poll()
  })
  send({ ready: true })
}

propagationChild(process.argv[2]!).catch((error: unknown) => {
  process.send?.({ error: String((error as Error)?.stack ?? error) } satisfies ChildMessage)
  process.exit(1)
})
