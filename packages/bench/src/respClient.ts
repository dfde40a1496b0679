/**
 * A minimal RESP2 client on a raw socket, for reading a bench redis-server's INFO without going through the store.
 */
import { Socket } from "node:net"

/** Every bench redis-server listens on loopback only. */
export const HOST = "127.0.0.1"

type RespValue = string | number | null

/** A minimal RESP2 client: one command at a time, replies that are not arrays. */
export class Resp {
  private buffer = Buffer.alloc(0)
  private waiting: Array<{ resolve: (value: RespValue) => void; reject: (error: Error) => void }> = []

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk])
      for (;;) {
        const parsed = this.parse()
        if (parsed === undefined) return
        const waiter = this.waiting.shift()
        if (parsed instanceof Error) waiter?.reject(parsed)
        else waiter?.resolve(parsed)
      }
    })
    socket.on("error", (error) => this.failAll(error))
    socket.on("close", () => this.failAll(new Error("connection closed")))
  }

  static connect(port: number): Promise<Resp> {
    return new Promise((resolve, reject) => {
      const socket = new Socket()
      socket.once("error", reject)
      socket.connect(port, HOST, () => {
        socket.off("error", reject)
        resolve(new Resp(socket))
      })
    })
  }

  private failAll(error: Error): void {
    for (const waiter of this.waiting.splice(0)) waiter.reject(error)
  }

  /** One complete reply off the buffer, or undefined while it is incomplete. */
  private parse(): RespValue | Error | undefined {
    const lineEnd = this.buffer.indexOf("\r\n")
    if (lineEnd === -1) return undefined
    const type = String.fromCharCode(this.buffer[0]!)
    const line = this.buffer.toString("utf8", 1, lineEnd)
    if (type === "$") {
      const length = Number(line)
      if (length < 0) {
        this.buffer = this.buffer.subarray(lineEnd + 2)
        return null
      }
      if (this.buffer.length < lineEnd + 2 + length + 2) return undefined
      const value = this.buffer.toString("utf8", lineEnd + 2, lineEnd + 2 + length)
      this.buffer = this.buffer.subarray(lineEnd + 2 + length + 2)
      return value
    }
    this.buffer = this.buffer.subarray(lineEnd + 2)
    if (type === "-") return new Error(line)
    if (type === ":") return Number(line)
    if (type === "+") return line
    return new Error(`unexpected RESP reply type ${type}`)
  }

  command(...args: ReadonlyArray<string>): Promise<RespValue> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject })
      this.socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`)
    })
  }

  close(): void {
    this.socket.destroy()
  }
}
