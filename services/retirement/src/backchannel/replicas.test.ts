import { randomUUID } from 'node:crypto'
import { forgeAccessToken, forgeLogoutToken } from '@sso/shared/testing'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { cutOffDatabase, reopenDatabase, terminateListeners } from '../../../../e2e/support/postgres-outage.js'
import { describeEachEngine, type TestDatabaseSettings } from '../../../../e2e/support/test-databases.js'
import type { App, RetirementAppOptions } from '../app.js'
import { retirementMigrations } from '../db/migrations/index.js'
import { alice, bearer, buildTestApp, databaseConfig, TEST_JWT_SECRET } from '../test-app.js'

// Several retirement replicas on one database, each an app of its own (its own pool, its own LISTEN connection),
// reached through app.inject. The same flows with real processes: e2e/postgres/retirement-replicas.test.ts.
describeEachEngine('retirement replicas', (engine) => {
  const apps: App[] = []
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()))
  })

  async function replica(database: TestDatabaseSettings, options: RetirementAppOptions = {}) {
    const app = await buildTestApp(databaseConfig(database), options)
    apps.push(app)
    return app
  }

  const postNotice = (app: App, claims: Record<string, unknown>) =>
    app.inject({
      method: 'POST',
      url: '/backchannel/logout',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: forgeLogoutToken(TEST_JWT_SECRET, { claims }) }).toString(),
    })
  const statusOf = async (app: App, token: string) =>
    (await app.inject({ url: '/api/me', headers: bearer(token) })).statusCode

  /** Polls `condition` every 10 ms; resolves with the milliseconds it took, or fails after `timeoutMs`. */
  async function within(timeoutMs: number, condition: () => Promise<boolean>): Promise<number> {
    const startedAt = performance.now()
    while (performance.now() - startedAt < timeoutMs) {
      if (await condition()) return performance.now() - startedAt
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    throw new Error(`not within ${timeoutMs} ms`)
  }

  it('answers /readyz 200 once the list is loaded', async () => {
    const app = await replica(await engine.createDatabase(retirementMigrations))
    const response = await app.inject({ url: '/readyz' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ status: 'ok' })
  })

  it('loads at start what was recorded before: a replica started after a notice refuses its session at once', async () => {
    const database = await engine.createDatabase(retirementMigrations)
    const first = await replica(database)
    const sid = randomUUID()
    expect((await postNotice(first, { sid })).statusCode).toBe(200)
    await first.close()
    apps.splice(apps.indexOf(first), 1)

    const restarted = await replica(database)
    expect((await restarted.inject({ url: '/readyz' })).statusCode).toBe(200)
    expect(await statusOf(restarted, forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { sid } }))).toBe(401)
  })

  // Declared for PostgreSQL only: on SQLite one process holds the database, so there is no sibling to tell.
  if (engine.name === 'postgres')
    describe('on PostgreSQL', () => {
      it('applies a notice posted to one replica at the other within 5 s (NOTIFY), whichever receives it', async () => {
        const database = await engine.createDatabase(retirementMigrations)
        const [a, b] = [await replica(database), await replica(database)]
        for (const [receiver, other] of [
          [a, b],
          [b, a],
        ] as const) {
          const sid = randomUUID()
          const token = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { sid } })
          expect(await statusOf(other, token)).toBe(200)
          expect((await postNotice(receiver, { sid })).statusCode).toBe(200)
          // Committed before the 200: the receiver refuses at once.
          expect(await statusOf(receiver, token)).toBe(401)
          await within(5_000, async () => (await statusOf(other, token)) === 401)
        }
      })

      it('applies a notice for every session of a user (sub alone) at the other replica too', async () => {
        const database = await engine.createDatabase(retirementMigrations)
        const [a, b] = [await replica(database), await replica(database)]
        const now = Math.floor(Date.now() / 1000)
        const before = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { iat: now - 10 } })
        const after = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { iat: now + 5 } })
        expect((await postNotice(a, { sid: undefined, sub: alice.id, iat: now })).statusCode).toBe(200)
        await within(5_000, async () => (await statusOf(b, before)) === 401)
        expect(await statusOf(b, after)).toBe(200)
      })

      it('refuses at every replica a replay of a notice another replica recorded', async () => {
        const database = await engine.createDatabase(retirementMigrations)
        const [a, b] = [await replica(database), await replica(database)]
        const jti = randomUUID()
        const sid = randomUUID()
        expect((await postNotice(a, { jti, sid })).statusCode).toBe(200)
        expect((await postNotice(b, { jti, sid })).statusCode).toBe(400)
        // The same session ended again in another notice (a bank retrying with a new token): 200, nothing changes.
        expect((await postNotice(b, { sid })).statusCode).toBe(200)
      })

      it('still applies notices when its LISTEN connection is killed (pg_terminate_backend), by polls and a reconnect', async () => {
        const database = await engine.createDatabase(retirementMigrations)
        const a = await replica(database)
        const b = await replica(database, { revocationsPollIntervalMs: 200 })
        await within(5_000, async () => (await terminateListeners(database.databaseUrl ?? '')) >= 2)
        const sid = randomUUID()
        const token = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { sid } })
        expect((await postNotice(a, { sid })).statusCode).toBe(200)
        await within(5_000, async () => (await statusOf(b, token)) === 401)
        expect((await b.inject({ url: '/readyz' })).statusCode).toBe(200)

        // And it listens again: a notice after the reconnect arrives too.
        const later = randomUUID()
        const laterToken = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { sid: later } })
        expect((await postNotice(a, { sid: later })).statusCode).toBe(200)
        await within(5_000, async () => (await statusOf(b, laterToken)) === 401)
      })

      it('does not miss a revocation committed after a later one (commits out of order), nor one sent without NOTIFY', async () => {
        const database = await engine.createDatabase(retirementMigrations)
        const a = await replica(database)
        const b = await replica(database, { revocationsPollIntervalMs: 100 })
        const early = randomUUID()
        const earlyToken = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { sid: early } })

        // A transaction that takes its transaction id first, and commits last, with no NOTIFY: only a poll can find it.
        const slow = new pg.Client({ connectionString: database.databaseUrl })
        await slow.connect()
        try {
          await slow.query('BEGIN')
          await slow.query('SELECT pg_current_xact_id()')
          // Meanwhile, a later transaction commits and b's polls move past it.
          const sid = randomUUID()
          expect((await postNotice(a, { sid })).statusCode).toBe(200)
          const laterToken = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { sid } })
          await within(5_000, async () => (await statusOf(b, laterToken)) === 401)
          await new Promise((resolve) => setTimeout(resolve, 300)) // several polls that saw the later one
          await slow.query('INSERT INTO revoked_sessions (session_id, keep_until) VALUES ($1, $2)', [
            early,
            Math.floor(Date.now() / 1000) + 3_600,
          ])
          await slow.query('COMMIT')
        } finally {
          await slow.end()
        }
        await within(5_000, async () => (await statusOf(b, earlyToken)) === 401)
      })

      it('answers /readyz 503 when its database is unreachable for longer than the bound, and 200 once polls work', async () => {
        const database = await engine.createDatabase(retirementMigrations)
        const app = await replica(database, { revocationsPollIntervalMs: 50, maxRevocationsStalenessMs: 300 })
        const databaseUrl = database.databaseUrl ?? ''
        await cutOffDatabase(databaseUrl)
        try {
          await within(5_000, async () => (await app.inject({ url: '/readyz' })).statusCode === 503)
          const response = await app.inject({ url: '/readyz' })
          expect(response.json()).toEqual({
            status: 'error',
            error: 'Not ready: the database does not answer',
            code: 'SSO_NOT_READY',
          })
          // Liveness is another question: the process is fine, restarting it would not help.
          expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
          // Tokens are still checked against what it knew (the load balancer, not the replica, stops the traffic).
          expect(await statusOf(app, forgeAccessToken(alice, { secret: TEST_JWT_SECRET }))).toBe(200)
        } finally {
          await reopenDatabase(databaseUrl)
        }
        await within(5_000, async () => (await app.inject({ url: '/readyz' })).statusCode === 200)
      })

      it('names a stale list in the 503 when only the polls fail (the database still answers)', async () => {
        const database = await engine.createDatabase(retirementMigrations)
        const app = await replica(database, { revocationsPollIntervalMs: 50, maxRevocationsStalenessMs: 300 })
        // The poll's read fails (its table is gone) while `select 1` still answers.
        const admin = new pg.Client({ connectionString: database.databaseUrl })
        await admin.connect()
        try {
          await admin.query('ALTER TABLE revoked_users RENAME TO revoked_users_away')
          await within(5_000, async () => (await app.inject({ url: '/readyz' })).statusCode === 503)
          expect((await app.inject({ url: '/readyz' })).json()).toMatchObject({
            error: expect.stringMatching(/^Not ready: the revocation list was last brought up to date \d+\.\d s ago$/),
            code: 'SSO_NOT_READY',
          })
          await admin.query('ALTER TABLE revoked_users_away RENAME TO revoked_users')
          await within(5_000, async () => (await app.inject({ url: '/readyz' })).statusCode === 200)
        } finally {
          await admin.end()
        }
      })

      it('ignores a NOTIFY whose payload is not a revocation, and keeps listening', async () => {
        const database = await engine.createDatabase(retirementMigrations)
        const [a, b] = [await replica(database), await replica(database, { revocationsPollIntervalMs: 60_000 })]
        const admin = new pg.Client({ connectionString: database.databaseUrl })
        await admin.connect()
        try {
          for (const payload of ['not json', '{"sessionId":42,"keepUntil":1}', '{"userId":"x","keepUntil":1}', '[]']) {
            await admin.query('SELECT pg_notify($1, $2)', ['sso_revocations', payload])
          }
        } finally {
          await admin.end()
        }
        // With polls an hour apart, only the NOTIFY can bring this one, so the listener is still there.
        const sid = randomUUID()
        const token = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { sid } })
        expect((await postNotice(a, { sid })).statusCode).toBe(200)
        await within(5_000, async () => (await statusOf(b, token)) === 401)
      })
    })
})
