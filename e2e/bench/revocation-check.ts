// What the bank's per-request revocation check (read-through: one primary-key read of the session's row) costs, on
// SQLite and on PostgreSQL, against a check answered from memory (what a LISTEN/NOTIFY-kept view would cost per
// request). Not a test: figures for docs/scaling.md ("Revocation at the bank: read-through, measured"). Run from the
// repository root after `npm run build`:
//   node --import tsx e2e/bench/revocation-check.ts          (BENCH_ENGINES=sqlite or postgres for one engine)
// Everything runs in this process through app.inject (no sockets), so the figures are the service's own work plus,
// on PostgreSQL, the round trip to a throwaway server on the same machine (fsync off).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createKeyring, ssoAuth } from '@sso/shared'
import { openDatabase } from '@sso/shared/db'
import Fastify from 'fastify'
import { buildApp } from '../../services/bank/src/app.js'
import type { BankDatabase } from '../../services/bank/src/db/bank-database.js'
import { bankMigrations } from '../../services/bank/src/db/migrations/index.js'
import { createRefreshTokens } from '../../services/bank/src/sessions/refresh-token.js'
import { createSessionsRepository } from '../../services/bank/src/sessions/sessions-repository.js'
import { createTestConfig, TEST_JWT_SECRET } from '../../services/bank/src/test-app.js'
import { createDatabaseIn } from '../support/postgres-databases.js'
import { startThrowawayPostgres } from '../support/throwaway-postgres.js'
import { readPostgresCpuSeconds } from './process-cpu.js'

const sequentialRequests = 3_000
const concurrentRequests = 6_000
const concurrency = 16
const warmUp = 300
const rounds = 3

let databaseCpuSeconds = () => 0

interface Figures {
  /** Sequential requests: microseconds per request, p50 and p99. */
  sequentialP50Us: number
  sequentialP99Us: number
  /** `concurrency` requests in flight: requests per second, and this process's CPU per request. */
  concurrentPerSecond: number
  cpuUsPerRequest: number
  /** The database server's CPU per request (PostgreSQL; 0 on SQLite, whose work is in `cpuUsPerRequest`). */
  databaseCpuUsPerRequest: number
}

type Inject = () => Promise<number>

async function measure(request: Inject): Promise<Figures> {
  for (let index = 0; index < warmUp; index++) await request()
  const samples: number[] = []
  for (let index = 0; index < sequentialRequests; index++) {
    const started = process.hrtime.bigint()
    const status = await request()
    samples.push(Number(process.hrtime.bigint() - started) / 1_000)
    if (status !== 200) throw new Error(`GET /api/me answered ${status}`)
  }
  samples.sort((a, b) => a - b)
  const cpuBefore = process.cpuUsage()
  const databaseCpuBefore = databaseCpuSeconds()
  const started = process.hrtime.bigint()
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < concurrentRequests) await request()
    }),
  )
  const elapsedSeconds = Number(process.hrtime.bigint() - started) / 1e9
  const cpu = process.cpuUsage(cpuBefore)
  return {
    sequentialP50Us: samples[Math.floor(samples.length * 0.5)] ?? 0,
    sequentialP99Us: samples[Math.floor(samples.length * 0.99)] ?? 0,
    concurrentPerSecond: concurrentRequests / elapsedSeconds,
    cpuUsPerRequest: (cpu.user + cpu.system) / concurrentRequests,
    databaseCpuUsPerRequest: ((databaseCpuSeconds() - databaseCpuBefore) * 1e6) / concurrentRequests,
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
function medianFigures(all: Figures[]): Figures {
  return {
    sequentialP50Us: median(all.map((figures) => figures.sequentialP50Us)),
    sequentialP99Us: median(all.map((figures) => figures.sequentialP99Us)),
    concurrentPerSecond: median(all.map((figures) => figures.concurrentPerSecond)),
    cpuUsPerRequest: median(all.map((figures) => figures.cpuUsPerRequest)),
    databaseCpuUsPerRequest: median(all.map((figures) => figures.databaseCpuUsPerRequest)),
  }
}

async function measureEngine(settings: { databaseUrl?: string; databasePath?: string }) {
  const config = {
    ...createTestConfig(),
    ...(settings.databaseUrl ? { DATABASE_URL: settings.databaseUrl } : { DATABASE_PATH: settings.databasePath ?? '' }),
    LOG_LEVEL: 'warn' as const,
  }
  // The real bank: GET /api/me as a replica answers it, the check included.
  const bank = await buildApp(config, { postLogoutToken: async () => 200 })
  const credentials = { username: 'bench-alice', password: 'bench-password-1234' }
  await bank.inject({ method: 'POST', url: '/api/register', payload: credentials })
  const login = await bank.inject({ method: 'POST', url: '/api/login', payload: credentials })
  const authorization = `Bearer ${(login.json() as { data: string }).data}`
  const meOn = (app: { inject: typeof bank.inject }) => async () =>
    (await app.inject({ url: '/api/me', headers: { authorization } })).statusCode

  // The same auth plugin and route with the check answered by the repository (read-through, as in the bank) or from
  // memory (a Set lookup: what a LISTEN/NOTIFY-kept view would cost per request), so the difference is the check.
  const database = await openDatabase<BankDatabase>({ ...settings, migrations: bankMigrations })
  const sessions = createSessionsRepository(database.db, {
    refreshTokenTtlSeconds: createTestConfig().REFRESH_TOKEN_TTL,
    accessTokenTtlSeconds: createTestConfig().ACCESS_TOKEN_TTL,
    reuseGraceSeconds: 0,
    tokens: createRefreshTokens([TEST_JWT_SECRET]),
    outbox: { enqueue: async () => {}, announce: () => {} },
  })
  const revokedInMemory = new Set<string>()
  const harness = async (isRevoked: (sessionId: string, userId: string) => boolean | Promise<boolean>) => {
    const app = Fastify()
    await app.register(ssoAuth, {
      keyring: createKeyring(TEST_JWT_SECRET),
      audience: 'bank',
      cookies: { secure: false },
      isRevoked: (user) => isRevoked(user.sessionId, user.id),
    })
    app.get('/api/me', { onRequest: app.requireSession }, async (request) => ({
      status: 'ok',
      data: { id: request.user.id, username: request.user.username },
    }))
    await app.ready()
    return app
  }
  const readThrough = await harness((sessionId, userId) => sessions.refusesAccessTokensOf(sessionId, userId))
  const inMemory = await harness((sessionId) => revokedInMemory.has(sessionId))

  const results = { bank: [] as Figures[], readThrough: [] as Figures[], inMemory: [] as Figures[] }
  for (let round = 0; round < rounds; round++) {
    results.bank.push(await measure(meOn(bank)))
    results.readThrough.push(await measure(meOn(readThrough)))
    results.inMemory.push(await measure(meOn(inMemory)))
  }
  await Promise.all([bank.close(), readThrough.close(), inMemory.close(), database.db.destroy()])
  return {
    bank: medianFigures(results.bank),
    readThrough: medianFigures(results.readThrough),
    inMemory: medianFigures(results.inMemory),
  }
}

const engines = (process.env.BENCH_ENGINES ?? 'sqlite,postgres').split(',')
const report: Record<string, Awaited<ReturnType<typeof measureEngine>>> = {}
if (engines.includes('sqlite')) {
  const folder = mkdtempSync(join(tmpdir(), 'sso-bench-revocation-'))
  try {
    report.sqlite = await measureEngine({ databasePath: join(folder, 'bank.sqlite') })
  } finally {
    rmSync(folder, { recursive: true, force: true })
  }
}
if (engines.includes('postgres')) {
  const postgres = await startThrowawayPostgres()
  try {
    const database = await createDatabaseIn(postgres.adminUrl)
    databaseCpuSeconds = () => readPostgresCpuSeconds(postgres.dataDir)
    report.postgres = await measureEngine({ databaseUrl: database.databaseUrl })
    await database.drop()
  } finally {
    await postgres.stop()
  }
}

const round = (value: number) => Math.round(value)
console.log(
  `GET /api/me through app.inject, median of ${rounds} rounds; sequential p50/p99 µs, ${concurrency} in flight`,
)
console.log('| engine | variant | p50 µs | p99 µs | req/s | CPU µs/req | database CPU µs/req |')
console.log('| --- | --- | --- | --- | --- | --- | --- |')
for (const [engine, variants] of Object.entries(report)) {
  for (const [variant, figures] of Object.entries(variants)) {
    console.log(
      `| ${engine} | ${variant} | ${round(figures.sequentialP50Us)} | ${round(figures.sequentialP99Us)} | ${round(figures.concurrentPerSecond)} | ${round(figures.cpuUsPerRequest)} | ${round(figures.databaseCpuUsPerRequest)} |`,
    )
  }
}
