import { type OpenedDatabase, openDatabase } from '@sso/shared/db'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import { retirementMigrations } from './migrations/index.js'
import type { RetirementDatabase } from './retirement-database.js'

describeEachEngine("retirement's schema", (engine) => {
  let database: OpenedDatabase<RetirementDatabase>
  beforeEach(async () => {
    const settings = await engine.createDatabase()
    database = await openDatabase<RetirementDatabase>({ ...settings, migrations: retirementMigrations })
  })
  afterEach(async () => {
    await database.db.destroy()
  })

  it('has the tables the repositories use, with their columns', async () => {
    const tables = await database.db.introspection.getTables()
    const columns = Object.fromEntries(
      tables
        .filter((table) => !table.name.startsWith('kysely_'))
        .map((table) => [table.name, table.columns.map((column) => column.name).sort()]),
    )
    expect(columns).toEqual({
      plans: ['contribution_count', 'created_at', 'user_id'],
      contributions: ['amount_cents', 'created_at', 'id', 'sequence', 'user_id'],
      revoked_sessions: ['keep_until', 'session_id'],
      revoked_users: ['issued_up_to', 'keep_until', 'user_id'],
      seen_logout_tokens: ['jti', 'keep_until'],
    })
  })

  it('takes contributions of 1 cent to 1,000,000.00 only, and only into an existing plan', async () => {
    const { db } = database
    const createdAt = new Date(0).toISOString()
    await db.insertInto('plans').values({ userId: 'u-alice', createdAt }).execute()
    const contribution = { id: 'c-1', userId: 'u-alice', amountCents: 1, createdAt, sequence: 1 }
    await db.insertInto('contributions').values(contribution).execute()
    await db
      .insertInto('contributions')
      .values({ ...contribution, id: 'c-2', amountCents: 100_000_000, sequence: 2 })
      .execute()
    for (const amountCents of [0, 100_000_001]) {
      await expect(
        db
          .insertInto('contributions')
          .values({ ...contribution, id: `c-${amountCents}`, amountCents, sequence: 3 })
          .execute(),
      ).rejects.toThrow(/check/i)
    }
    await expect(
      db
        .insertInto('contributions')
        .values({ ...contribution, id: 'c-3', userId: 'u-nobody', sequence: 1 })
        .execute(),
    ).rejects.toThrow(/foreign key/i)
  })

  it('records a logout token once (a second time is a replay)', async () => {
    const { db } = database
    const keepUntil = 2 ** 33 // seconds, beyond 32 bits
    await db.insertInto('seenLogoutTokens').values({ jti: 'j-1', keepUntil }).execute()
    await expect(db.insertInto('seenLogoutTokens').values({ jti: 'j-1', keepUntil }).execute()).rejects.toThrow(
      /unique|primary key/i,
    )
    expect(await db.selectFrom('seenLogoutTokens').selectAll().execute()).toEqual([{ jti: 'j-1', keepUntil }])
  })
})
