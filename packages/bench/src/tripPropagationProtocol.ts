/**
 * What the two processes of the trip-propagation measurement share: their messages and the breaker options both
 * hold on the one circuit.
 */
import type { Options } from "@circuit-breaker/promise"

const ONE_DAY = 24 * 60 * 60 * 1000

export type ParentMessage = { readonly cmd: "arm" } | { readonly cmd: "exit" }
export type ChildMessage =
  | { readonly ready: true }
  | { readonly armed: true }
  /** When the child read OPEN, and when its raw subscriber got the announcement (hrtime, ns). */
  | { readonly open: string; readonly message: string | null }
  | { readonly closed: true }
  | { readonly error: string }

export const propagationOptions = (url: string): Options => ({
  name: "propagation",
  failureThreshold: 1,
  resetTimeout: ONE_DAY,
  maxRetries: 0,
  distributedTracking: true,
  redis: url
})

/** The store's channel under the default prefix (packages/redis: `<prefix>events`). */
export const CHANNEL = "cb:v1:events"
