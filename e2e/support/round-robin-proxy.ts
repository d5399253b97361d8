// A load balancer reduced to what the cross-replica tests need: it passes each request to the next live upstream in
// turn, and to the one after when an upstream refuses the connection (nginx's `proxy_next_upstream error`). The
// banks post their logout notices through it, as they post them to retirement's load balancer in the scaled compose.
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** Hands out the items in turn, as a round-robin load balancer picks upstreams. */
export class RoundRobin<T> {
  private position = 0

  constructor(private readonly items: () => readonly T[]) {}

  next(): T {
    const items = this.items()
    if (items.length === 0) throw new Error('no upstream to choose from')
    const item = items[this.position % items.length] as T
    this.position = (this.position + 1) % Math.max(items.length, 1)
    return item
  }
}

/** A running proxy on a free loopback port; `url` is where to send requests. */
export interface RoundRobinProxy {
  url: string
  /** How many requests each upstream answered, by its base URL. */
  answeredBy: Map<string, number>
  close(): Promise<void>
}

/** Proxies every request to `upstreams()` (base URLs, e.g. `http://127.0.0.1:4001`) in turn. */
export async function startRoundRobinProxy(upstreams: () => readonly string[]): Promise<RoundRobinProxy> {
  const chooser = new RoundRobin(upstreams)
  const answeredBy = new Map<string, number>()

  const server: Server = createServer(async (incoming, outgoing) => {
    const chunks: Buffer[] = []
    for await (const chunk of incoming) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    const candidates = upstreams().length
    for (let attempt = 0; attempt < Math.max(candidates, 1); attempt++) {
      let upstream: string
      try {
        upstream = chooser.next()
      } catch {
        break
      }
      const answer = await forward(upstream, incoming, body).catch(() => undefined)
      if (!answer) continue // refused or reset: try the next upstream, as nginx does on `error`
      answeredBy.set(upstream, (answeredBy.get(upstream) ?? 0) + 1)
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(outgoing)
      return
    }
    outgoing.writeHead(502, { 'content-type': 'application/json' })
    outgoing.end('{"status":"error","error":"no upstream answered"}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    answeredBy,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function forward(upstream: string, incoming: IncomingMessage, body: Buffer): Promise<IncomingMessage> {
  const target = new URL(incoming.url ?? '/', upstream)
  const forwardedFor = [incoming.headers['x-forwarded-for'], incoming.socket.remoteAddress].filter(Boolean).join(', ')
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      target,
      {
        method: incoming.method,
        headers: { ...incoming.headers, host: target.host, 'x-forwarded-for': forwardedFor },
        timeout: 5_000,
      },
      resolve,
    )
    outgoing.on('timeout', () => outgoing.destroy(new Error('upstream timed out')))
    outgoing.on('error', reject)
    outgoing.end(body)
  })
}
