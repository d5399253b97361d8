// The part of autocannon 8's API the benchmark uses (the package ships no types).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  export interface Request {
    method?: string
    path?: string
    headers?: Record<string, string>
    body?: string
    /** Called before each send; returns the request to send. */
    setupRequest?: (request: Request, context: Record<string, unknown>) => Request
  }

  export interface Options extends Request {
    url: string
    connections?: number
    /** Seconds. */
    duration?: number
    /** Requests cycled through, in order, on each connection. */
    requests?: Request[]
    timeout?: number
  }

  export interface Result {
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    requests: { total: number; average: number }
    statusCodeStats: Record<string, { count: number }>
  }

  /** Emits `response` (client, statusCode, bytes, latency in ms) per answer; settles when the run ends. */
  export interface Instance extends EventEmitter, PromiseLike<Result> {}

  export default function autocannon(options: Options): Instance
}
