// Two retirement processes on one PostgreSQL database, as behind a load balancer: a logout notice received by either
// is refused by both within 5 s (CONTRACT, Scale-out), also when one's LISTEN connection is killed, and a replica
// restarted after a notice it missed is refusing from its first answer. Prints the propagation delays it measures.
import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { forgeAccessToken, forgeLogoutToken } from '@sso/shared/testing'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { bearer } from '../support/http-client.js'
import { terminateListeners } from '../support/postgres-outage.js'
import { E2E_SECRET, findFreePort, ServiceProcess, Services } from '../support/start-services.js'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** CONTRACT: a notice received by any one replica makes every replica refuse within this. */
const PROPAGATION_BOUND_MS = 5_000
const alice = { id: '0b5c2f7e-8d4a-4c1b-9e3f-2a6d8c0e4f11', username: 'alice' }

let services: Services
let second: ServiceProcess | undefined
let secondPort = 0
const measured: Record<string, number[]> = {}

/** Retirement replica B: the same environment as the harness's retirement (A), another port. */
async function startSecondReplica(): Promise<ServiceProcess> {
  const child: ChildProcess = spawn(process.execPath, [join('services', 'retirement', 'dist', 'server.js')], {
    cwd: repoRoot,
    env: services.environment('retirement', { PORT: String(secondPort) }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const replica = new ServiceProcess('retirement', `http://127.0.0.1:${secondPort}`, child)
  await replica.waitUntilHealthy()
  return replica
}

beforeAll(async () => {
  if (inject('postgresUnavailable')) return
  services = await Services.start({ database: 'postgres' })
  secondPort = await findFreePort()
  second = await startSecondReplica()
})
afterAll(async () => {
  await second?.stop()
  await services?.stopAll()
  const summary = Object.entries(measured).map(([path, delays]) => {
    const sorted = [...delays].sort((x, y) => x - y)
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]?.toFixed(1)
    return `${path}: n=${sorted.length} p50=${at(0.5)} ms p90=${at(0.9)} ms worst=${sorted.at(-1)?.toFixed(1)} ms`
  })
  if (summary.length > 0) console.info(`retirement replicas, propagation delays:\n  ${summary.join('\n  ')}`)
})

const replicaA = () => `http://127.0.0.1:${new URL(services.retirementUrl).port}`
const replicaB = () => second?.url ?? ''

async function postNotice(replicaUrl: string, claims: Record<string, unknown>) {
  const response = await fetch(`${replicaUrl}/backchannel/logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: forgeLogoutToken(E2E_SECRET, { claims }) }),
  })
  await response.body?.cancel()
  return response.status
}

async function statusOf(replicaUrl: string, token: string) {
  const response = await fetch(`${replicaUrl}/api/me`, { headers: bearer(token) })
  await response.body?.cancel()
  return response.status
}

/** Asks every 5 ms until the replica refuses the token; resolves with how long that took, fails after the bound. */
async function refusedWithin(replicaUrl: string, token: string, sinceMs = performance.now()): Promise<number> {
  while (performance.now() - sinceMs < PROPAGATION_BOUND_MS) {
    if ((await statusOf(replicaUrl, token)) === 401) return performance.now() - sinceMs
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error(`not refused within ${PROPAGATION_BOUND_MS} ms\n${services.describe()}\n${second?.describe()}`)
}

const record = (path: string, delayMs: number) => {
  measured[path] ??= []
  measured[path].push(delayMs)
}

describe.skipIf(inject('postgresUnavailable') !== '')('two retirement replicas on one PostgreSQL database', () => {
  it('both answer /readyz 200', async () => {
    for (const url of [replicaA(), replicaB()]) {
      const response = await fetch(`${url}/readyz`)
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({ status: 'ok' })
    }
  })

  it('a notice posted to either replica: the other refuses that session within 5 s (NOTIFY path)', async () => {
    for (let round = 0; round < 20; round++) {
      const [receiver, other] = round % 2 === 0 ? [replicaA(), replicaB()] : [replicaB(), replicaA()]
      const sid = randomUUID()
      const token = forgeAccessToken(alice, { secret: E2E_SECRET, claims: { sid } })
      expect(await statusOf(other, token)).toBe(200)
      const postedAt = performance.now()
      expect(await postNotice(receiver, { sid })).toBe(200)
      // Timed from the receiver's 200: the bank's delivery is done then, and the rest is propagation.
      record('NOTIFY (posted to one, refused by the other)', await refusedWithin(other, token, performance.now()))
      expect(await statusOf(receiver, token)).toBe(401)
      expect(performance.now() - postedAt).toBeLessThan(PROPAGATION_BOUND_MS)
    }
  })

  it('a revocation committed without NOTIFY (poll path) is refused by both within 5 s', async () => {
    const database = new pg.Client({ connectionString: services.databaseUrlOf('retirement') })
    await database.connect()
    try {
      for (let round = 0; round < 8; round++) {
        const sid = randomUUID()
        const token = forgeAccessToken(alice, { secret: E2E_SECRET, claims: { sid } })
        expect(await statusOf(replicaB(), token)).toBe(200)
        // At a random point of the poll cycle: the previous round ended just after a poll, and would start each one
        // there, measuring the worst case every time.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 1_000))
        await database.query('INSERT INTO revoked_sessions (session_id, keep_until) VALUES ($1, $2)', [
          sid,
          Math.floor(Date.now() / 1000) + 3_600,
        ])
        const committedAt = performance.now()
        record('poll only (no NOTIFY)', await refusedWithin(replicaB(), token, committedAt))
        await refusedWithin(replicaA(), token, committedAt)
      }
    } finally {
      await database.end()
    }
  })

  it('its LISTEN connection killed (pg_terminate_backend): notices are still applied, and it listens again', async () => {
    const databaseUrl = services.databaseUrlOf('retirement')
    for (let round = 0; round < 3; round++) {
      expect(await terminateListeners(databaseUrl)).toBe(2)
      // At once, before either has reconnected: what NOTIFY misses now, the poll after the reconnect reads.
      const sid = randomUUID()
      const token = forgeAccessToken(alice, { secret: E2E_SECRET, claims: { sid } })
      const postedAt = performance.now()
      expect(await postNotice(replicaA(), { sid })).toBe(200)
      record('LISTEN just killed', await refusedWithin(replicaB(), token, postedAt))
      // Listening again within the reconnect delay (0.25 s at first), so the next kill finds both connections.
      const deadline = Date.now() + 5_000
      while ((await countListeners(databaseUrl)) < 2 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      expect(await countListeners(databaseUrl)).toBe(2)
    }
    for (const url of [replicaA(), replicaB()]) expect((await fetch(`${url}/readyz`)).status).toBe(200)
  })

  it('a replica stopped during a notice and restarted is refusing from its first answer, and ready', async () => {
    await second?.stop()
    const sid = randomUUID()
    const token = forgeAccessToken(alice, { secret: E2E_SECRET, claims: { sid } })
    expect(await postNotice(replicaA(), { sid })).toBe(200)

    second = await startSecondReplica()
    // The first request it answers: it loaded the list before it began to listen, so nothing in between is stale.
    expect(await statusOf(replicaB(), token)).toBe(401)
    expect((await fetch(`${replicaB()}/readyz`)).status).toBe(200)
  })
})

async function countListeners(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const { rows } = await client.query<{ count: string }>(
      `SELECT count(*) AS count FROM pg_stat_activity
        WHERE datname = current_database() AND query ILIKE 'LISTEN %' AND state = 'idle'`,
    )
    return Number(rows[0]?.count)
  } finally {
    await client.end()
  }
}
