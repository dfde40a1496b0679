/**
 * A small TCP proxy in front of Redis for one soak process, to give that process alone a bad network: added latency
 * (each chunk held for a delay, in order), a blackhole (nothing passes either way, as when packets vanish, and what
 * was sent arrives once it ends, as TCP retransmits it), or a reset (every connection is torn down with an RST).
 */
import { createConnection, createServer, type Server, type Socket } from "node:net"

export interface FaultyLink {
  readonly url: string
  /** Adds `ms` of latency to every chunk, each way, until `normal()`. */
  readonly latency: (ms: number) => void
  /** Holds everything, each way, until `normal()`. */
  readonly blackhole: () => void
  readonly normal: () => void
  /** Resets (RST) every connection open now. */
  readonly reset: () => void
  readonly close: () => Promise<void>
}

type Mode = { readonly _tag: "normal" } | { readonly _tag: "latency"; readonly ms: number } | { readonly _tag: "hole" }

/** One direction of one connection: chunks wait in order until their time comes (or the blackhole ends). */
const makeLane = (to: Socket, mode: () => Mode) => {
  const queue: Array<{ readonly chunk: Buffer; readonly at: number }> = []
  let timer: NodeJS.Timeout | undefined
  const pump = () => {
    timer = undefined
    if (mode()._tag === "hole") return
    const t = Date.now()
    while (queue.length > 0 && queue[0]!.at <= t) to.write(queue.shift()!.chunk)
    if (queue.length > 0) timer = setTimeout(pump, queue[0]!.at - t)
  }
  return {
    push: (chunk: Buffer) => {
      const current = mode()
      const last = queue.at(-1)?.at ?? 0
      queue.push({ chunk, at: Math.max(last, Date.now() + (current._tag === "latency" ? current.ms : 0)) })
      if (timer === undefined) pump()
    },
    /** Called when the mode changes: held chunks may go now. */
    wake: () => {
      if (timer !== undefined) clearTimeout(timer)
      pump()
    },
    stop: () => {
      if (timer !== undefined) clearTimeout(timer)
      queue.length = 0
    }
  }
}

export const startFaultyLink = (target: { readonly host: string; readonly port: number }): Promise<FaultyLink> => {
  let mode: Mode = { _tag: "normal" }
  const connections = new Set<{ readonly client: Socket; readonly wake: () => void }>()
  const server: Server = createServer((client) => {
    const upstream = createConnection(target)
    const up = makeLane(upstream, () => mode)
    const down = makeLane(client, () => mode)
    const entry = {
      client,
      wake: () => {
        up.wake()
        down.wake()
      }
    }
    connections.add(entry)
    client.on("data", up.push)
    upstream.on("data", down.push)
    const close = () => {
      connections.delete(entry)
      up.stop()
      down.stop()
      if (!client.destroyed) client.destroy()
      if (!upstream.destroyed) upstream.destroy()
    }
    client.on("close", close)
    upstream.on("close", close)
    client.on("error", close)
    upstream.on("error", close)
  })
  const setMode = (next: Mode) => {
    mode = next
    for (const connection of connections) connection.wake()
  }
  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      if (address === null || typeof address === "string") return reject(new Error("proxy: no port"))
      resolve({
        url: `redis://127.0.0.1:${address.port}`,
        latency: (ms) => setMode({ _tag: "latency", ms }),
        blackhole: () => setMode({ _tag: "hole" }),
        normal: () => setMode({ _tag: "normal" }),
        reset: () => {
          for (const { client } of connections) client.resetAndDestroy()
        },
        close: () =>
          new Promise<void>((done) => {
            for (const { client } of connections) client.destroy()
            server.close(() => done())
          })
      })
    })
  })
}
