// The load generator, in its own process (forked by run.ts) so its CPU never counts against, or competes inside,
// the benchmark's bookkeeping. It takes one job at a time over the IPC channel and answers with its figures:
// - `cannon`: autocannon at full speed (closed loop, `connections` requests in flight), for throughput;
// - `probe`: a few requests at a fixed rate (open loop), for latency that a saturating client would distort.
import { Agent, request as httpRequest } from 'node:http'
import autocannon, { type Request } from 'autocannon'
import { percentile } from './statistics.js'

export interface CannonJob {
  kind: 'cannon'
  /**
   * Base URLs of the service's replicas. With more than one, the connections are dealt out to them in turn and every
   * request on a connection goes to its replica: client-side round robin by connection, as a balancer keeping
   * upstream connections alive (or an L4 one) spreads a steady load.
   */
  urls: string[]
  connections: number
  durationSeconds: number
  /** Cycled through on each connection. */
  requests: Request[]
  /**
   * Each request comes from a new client address (`X-Forwarded-For`, believed because the service trusts
   * 127.0.0.1 as its proxy): a login storm from one address would otherwise meet the per-address limit, not argon2.
   */
  spreadClientAddresses?: boolean
}

export interface ProbeTarget {
  name: string
  url: string
  headers: Record<string, string>
}

export interface ProbeJob {
  kind: 'probe'
  targets: ProbeTarget[]
  /** Requests per second to each target, evenly spaced. */
  ratePerSecond: number
  durationSeconds: number
}

export type LoadJob = CannonJob | ProbeJob

/** Latency percentiles in milliseconds. */
export interface Latency {
  p50: number
  p99: number
}

export interface CannonResult {
  responses: number
  /** Answers that were not 2xx, by status. */
  failures: Record<string, number>
  errors: number
  durationSeconds: number
  perSecond: number
  latencyMs: Latency
}

export interface ProbeResult {
  targets: Record<string, { sent: number; ok: number; errors: number; latencyMs: Latency }>
}

export type LoadMessage = { id: number; job: LoadJob }
export type LoadReply = { id: number; result?: CannonResult | ProbeResult; error?: string }

const PROBE_TIMEOUT_MS = 5_000

function summarize(samples: readonly number[]): Latency {
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) }
}

function clientAddress(n: number): string {
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`
}

async function runCannon(job: CannonJob): Promise<CannonResult> {
  let addresses = 0
  const requests = job.spreadClientAddresses
    ? job.requests.map((request) => ({
        ...request,
        setupRequest: (next: Request) => ({
          ...next,
          headers: { ...next.headers, 'x-forwarded-for': clientAddress(++addresses) },
        }),
      }))
    : job.requests
  // autocannon's own histogram rounds to whole milliseconds; these are the exact times it measured.
  const latencies: number[] = []
  const failures: Record<string, number> = {}
  const instances = job.urls.map((url, index) => {
    // Connection i goes to replica i mod n; the first replicas take the remainder.
    const connections =
      Math.floor(job.connections / job.urls.length) + (index < job.connections % job.urls.length ? 1 : 0)
    const instance = autocannon({ url, connections, duration: job.durationSeconds, requests, timeout: 10 })
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, latencyMs: number) => {
      latencies.push(latencyMs)
      if (statusCode < 200 || statusCode > 299) failures[statusCode] = (failures[statusCode] ?? 0) + 1
    })
    return instance
  })
  const results = await Promise.all(instances)
  const durationSeconds = Math.max(...results.map((result) => result.duration))
  return {
    responses: latencies.length,
    failures,
    errors: results.reduce((sum, result) => sum + result.errors + result.timeouts, 0),
    durationSeconds,
    perSecond: latencies.length / durationSeconds,
    latencyMs: summarize(latencies),
  }
}

async function runProbe(job: ProbeJob): Promise<ProbeResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 })
  const stats = new Map(job.targets.map((target) => [target, { sent: 0, ok: 0, errors: 0, latencies: [] as number[] }]))
  const inFlight = new Set<Promise<void>>()

  function send(target: ProbeTarget) {
    const stat = stats.get(target)
    if (!stat) return
    stat.sent++
    const startedAt = process.hrtime.bigint()
    const done = new Promise<void>((resolve) => {
      const request = httpRequest(target.url, { agent, headers: target.headers, timeout: PROBE_TIMEOUT_MS }, (res) => {
        res.resume()
        res.on('end', () => {
          stat.latencies.push(Number(process.hrtime.bigint() - startedAt) / 1e6)
          if (res.statusCode === 200) stat.ok++
          else stat.errors++
          resolve()
        })
      })
      request.on('timeout', () => request.destroy(new Error('timed out')))
      request.on('error', () => {
        stat.errors++
        resolve()
      })
      request.end()
    })
    inFlight.add(done)
    void done.then(() => inFlight.delete(done))
  }

  // Open loop: request i leaves at start + i × interval whatever happened to the ones before it, so a slow answer
  // shows as latency instead of silently lowering the rate (coordinated omission).
  const intervalMs = 1000 / job.ratePerSecond
  const total = Math.floor(job.durationSeconds * job.ratePerSecond)
  const start = performance.now()
  for (let i = 0; i < total; i++) {
    const wait = start + i * intervalMs - performance.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    for (const target of job.targets) send(target)
  }
  await Promise.all(inFlight)
  agent.destroy()
  return {
    targets: Object.fromEntries(
      [...stats].map(([target, { sent, ok, errors, latencies }]) => [
        target.name,
        { sent, ok, errors, latencyMs: summarize(latencies) },
      ]),
    ),
  }
}

if (process.send) {
  process.on('message', async ({ id, job }: LoadMessage) => {
    let reply: LoadReply
    try {
      reply = { id, result: job.kind === 'cannon' ? await runCannon(job) : await runProbe(job) }
    } catch (error) {
      reply = { id, error: error instanceof Error ? error.message : String(error) }
    }
    process.send?.(reply)
  })
  // The benchmark closes the channel when it is done (or dies); nothing else keeps this process alive.
  process.on('disconnect', () => process.exit(0))
}
