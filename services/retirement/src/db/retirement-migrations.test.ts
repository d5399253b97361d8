import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type OpenedDatabase, openDatabase } from '@sso/shared/db'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLegacySqliteFile } from '../../../../e2e/support/legacy-sqlite.js'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import { createPlansRepository } from '../plans/plans-repository.js'
import { alice } from '../test-app.js'
import { retirementLegacyVersions, retirementMigrations } from './migrations/index.js'
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
    // PostgreSQL only: the transaction that last changed a revocation, for the replicas' polls (004).
    const changedXid = engine.name === 'postgres' ? ['changed_xid'] : []
    expect(columns).toEqual({
      plans: ['contribution_count', 'created_at', 'user_id'],
      contributions: ['added_at_ms', 'amount_cents', 'created_at', 'id', 'sequence', 'user_id'],
      revoked_sessions: [...changedXid, 'keep_until', 'session_id'],
      revoked_users: [...changedXid, 'issued_up_to', 'keep_until', 'user_id'],
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

describe('a SQLite file made by the earlier .sql runner', () => {
  const legacySql = fileURLToPath(new URL('./legacy-sql', import.meta.url))
  let folder: string
  afterEach(() => rmSync(folder, { recursive: true, force: true }))

  it('keeps its plans, contributions (newest first, as inserted) and revocations, then takes new ones', async () => {
    folder = mkdtempSync(join(tmpdir(), 'retirement-legacy-'))
    const databasePath = join(folder, 'retirement.sqlite')
    const createdAt = '2026-01-01T00:00:00.000Z' // one timestamp for all: only the insertion order tells them apart
    createLegacySqliteFile(databasePath, legacySql, 2, (db) => {
      db.prepare('INSERT INTO plans VALUES (?, ?)').run(alice.id, createdAt)
      for (const [id, cents] of [
        ['c-b', 100],
        ['c-a', 200],
        ['c-c', 300],
      ] as const) {
        db.prepare('INSERT INTO contributions VALUES (?, ?, ?, ?)').run(id, alice.id, cents, createdAt)
      }
      db.prepare('INSERT INTO revoked_sessions VALUES (?, ?)').run('s-ended', 2 ** 33)
    })
    const opened = await openDatabase<RetirementDatabase>({
      databasePath,
      migrations: retirementMigrations,
      legacyVersions: retirementLegacyVersions,
    })
    const { db } = opened
    try {
      const plans = createPlansRepository(opened)
      expect(await plans.findPlan(alice.id)).toEqual({
        balanceCents: 600,
        contributions: [
          { id: 'c-c', amountCents: 300, createdAt },
          { id: 'c-a', amountCents: 200, createdAt },
          { id: 'c-b', amountCents: 100, createdAt },
        ],
        more: false,
      })
      // Rows from before the limit count as long past: thirty new ones still fit in this minute.
      const outcomes = []
      for (let index = 0; index < 30; index++) outcomes.push(await plans.addContribution(alice.id, 1))
      expect(outcomes.every((outcome) => outcome.kind === 'added')).toBe(true)
      const newest = outcomes.at(-1)
      expect((await plans.findPlan(alice.id)).contributions[0]).toEqual(
        newest?.kind === 'added' ? newest.contribution : 'not added',
      )
      expect(await db.selectFrom('revokedSessions').selectAll().execute()).toEqual([
        { sessionId: 's-ended', keepUntil: 2 ** 33 },
      ])
    } finally {
      await db.destroy()
    }
  })
})
