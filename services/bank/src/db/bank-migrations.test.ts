import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type OpenedDatabase, openDatabase } from '@sso/shared/db'
import { injectInto, logIn } from '@sso/shared/testing'
import argon2 from 'argon2'
import type Database from 'better-sqlite3'
import { type Kysely, sql } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLegacySqliteFile } from '../../../../e2e/support/legacy-sqlite.js'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import { alice, buildTestApp } from '../test-app.js'
import type { BankDatabase } from './bank-database.js'
import { bankLegacyVersions, bankMigrations } from './migrations/index.js'

describeEachEngine("the bank's schema", (engine) => {
  let database: OpenedDatabase<BankDatabase>
  beforeEach(async () => {
    database = await openDatabase<BankDatabase>({ ...(await engine.createDatabase()), migrations: bankMigrations })
  })
  afterEach(async () => {
    await database.db.destroy()
  })

  const alice = { id: 'u-alice', username: 'alice', passwordHash: '$argon2id$…', createdAt: Date.UTC(2030, 0, 1) }

  it('has the tables the repositories use, with their columns', async () => {
    const tables = await database.db.introspection.getTables()
    const columns = Object.fromEntries(
      tables
        .filter((table) => !table.name.startsWith('kysely_'))
        .map((table) => [table.name, table.columns.map((column) => column.name).sort()]),
    )
    expect(columns).toEqual({
      users: ['created_at', 'id', 'password_hash', 'username'],
      accounts: ['balance_cents', 'created_at', 'id', 'name', 'user_id'],
      login_sessions: [
        'created_at',
        'expires_at',
        'generation',
        'id',
        'last_used_at',
        'previous_token_hash',
        'refresh_token_hash',
        'revoked_at',
        'rotated_at',
        'successor_box',
        'user_agent',
        'user_id',
      ],
      login_throttle: ['attempts', 'last_attempt_at', 'username'],
      logout_outbox: [
        'attempts',
        'claimed_by',
        'created_at',
        'give_up_at',
        'id',
        'leased_until',
        'next_attempt_at',
        'session_id',
        'url',
        'user_id',
      ],
      rate_limit_windows: ['hits', 'key', 'window_started_at'],
    })
  })

  it('keeps usernames unique and lower-case', async () => {
    const { db } = database
    await db.insertInto('users').values(alice).execute()
    await expect(
      db
        .insertInto('users')
        .values({ ...alice, id: 'u-other' })
        .execute(),
    ).rejects.toThrow(/unique/i)
    await expect(
      db
        .insertInto('users')
        .values({ ...alice, id: 'u-upper', username: 'Bob' })
        .execute(),
    ).rejects.toThrow(/check/i)
  })

  it("deletes a user's accounts with the user, and starts balances at zero", async () => {
    const { db } = database
    await db.insertInto('users').values(alice).execute()
    await db.insertInto('accounts').values({ id: 'a-1', userId: alice.id, name: 'Checking', createdAt: 1 }).execute()
    expect(await db.selectFrom('accounts').select('balanceCents').execute()).toEqual([{ balanceCents: 0 }])
    // Cents beyond 32 bits: PostgreSQL's integer would overflow here.
    await db
      .updateTable('accounts')
      .set({ balanceCents: 2 ** 40 })
      .execute()
    expect(await db.selectFrom('accounts').select('balanceCents').execute()).toEqual([{ balanceCents: 2 ** 40 }])
    await db.deleteFrom('users').where('id', '=', alice.id).execute()
    expect(await db.selectFrom('accounts').selectAll().execute()).toEqual([])
  })

  it('numbers logout notices itself, and starts their attempts at zero', async () => {
    const notice = { url: 'http://retirement/backchannel', sessionId: null, userId: alice.id, createdAt: 1 }
    const ids = await database.db
      .insertInto('logoutOutbox')
      .values([
        { ...notice, nextAttemptAt: 1, giveUpAt: 2 },
        { ...notice, nextAttemptAt: 1, giveUpAt: 2 },
      ])
      .returning(['id', 'attempts'])
      .execute()
    expect(ids).toEqual([
      { id: 1, attempts: 0 },
      { id: 2, attempts: 0 },
    ])
  })

  it('keeps one login counter per username', async () => {
    const { db } = database
    await db.insertInto('loginThrottle').values({ username: 'alice', attempts: 1, lastAttemptAt: 1 }).execute()
    await expect(
      db.insertInto('loginThrottle').values({ username: 'alice', attempts: 1, lastAttemptAt: 2 }).execute(),
    ).rejects.toThrow(/unique|primary key/i)
  })
})

describe('a SQLite file made by the earlier .sql runner', () => {
  const legacySql = fileURLToPath(new URL('./legacy-sql', import.meta.url))
  const folders: string[] = []
  afterEach(() => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true })
  })
  function legacyFile(upToVersion: number, seed: (db: Database.Database) => void) {
    const folder = mkdtempSync(join(tmpdir(), 'bank-legacy-'))
    folders.push(folder)
    const path = join(folder, 'bank.sqlite')
    createLegacySqliteFile(path, legacySql, upToVersion, seed)
    return path
  }
  const open = (databasePath: string) =>
    openDatabase<BankDatabase>({ databasePath, migrations: bankMigrations, legacyVersions: bankLegacyVersions })
  const hash = Buffer.alloc(32, 7)
  const appliedMigrations = async (db: Kysely<BankDatabase>) =>
    (await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db)).rows.map(
      (row) => row.name,
    )
  function seedBeforeSessionsRedesign(db: Database.Database) {
    db.prepare('INSERT INTO users VALUES (?, ?, ?, ?)').run('u-alice', 'alice', 'a-hash', 1)
    db.prepare('INSERT INTO accounts VALUES (?, ?, ?, ?, ?)').run('a-1', 'u-alice', 'Checking', 12_345, 1)
    db.prepare('INSERT INTO login_sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
      's-1',
      'u-alice',
      hash,
      1,
      2,
      3,
      null,
      'ua',
    )
    db.prepare('INSERT INTO retired_refresh_tokens VALUES (?, ?, ?)').run(Buffer.alloc(32, 1), 's-1', 2)
    db.prepare('INSERT INTO login_throttle VALUES (?, ?, ?)').run('mallory', 3, 4)
    db.prepare(
      'INSERT INTO logout_outbox (url, session_id, user_id, created_at, next_attempt_at, give_up_at) VALUES (?, ?, ?, ?, ?, ?)',
    ).run('http://retirement/backchannel/logout', 's-0', 'u-alice', 5, 5, 6)
  }

  it('keeps its data, records the migrations it had, and runs only the ones it lacked', async () => {
    const path = legacyFile(2, seedBeforeSessionsRedesign)
    const { db } = await open(path)
    try {
      expect(await appliedMigrations(db)).toEqual(Object.keys(bankMigrations))
      expect(await db.selectFrom('users').selectAll().execute()).toEqual([
        { id: 'u-alice', username: 'alice', passwordHash: 'a-hash', createdAt: 1 },
      ])
      expect(await db.selectFrom('accounts').select(['id', 'balanceCents']).execute()).toEqual([
        { id: 'a-1', balanceCents: 12_345 },
      ])
      // 005 ran on top: the session is there with the new columns, the per-rotation table is gone.
      expect(await db.selectFrom('loginSessions').selectAll().execute()).toEqual([
        {
          id: 's-1',
          userId: 'u-alice',
          refreshTokenHash: hash,
          createdAt: 1,
          lastUsedAt: 2,
          expiresAt: 3,
          revokedAt: null,
          userAgent: 'ua',
          generation: 0,
          previousTokenHash: null,
          rotatedAt: null,
          successorBox: null,
        },
      ])
      const tables = (await db.introspection.getTables()).map((table) => table.name)
      expect(tables).not.toContain('retired_refresh_tokens')
      expect(await db.selectFrom('loginThrottle').selectAll().execute()).toEqual([
        { username: 'mallory', attempts: 3, lastAttemptAt: 4 },
      ])
      expect(await db.selectFrom('logoutOutbox').select(['sessionId', 'attempts']).execute()).toEqual([
        { sessionId: 's-0', attempts: 0 },
      ])
    } finally {
      await db.destroy()
    }
    // Opened again: nothing is baselined or run twice.
    const again = await open(path)
    expect(await again.db.selectFrom('users').select('id').execute()).toEqual([{ id: 'u-alice' }])
    await again.db.destroy()
  })

  it('runs nothing on a file that had every version', async () => {
    const path = legacyFile(3, (db) => {
      db.prepare('INSERT INTO users VALUES (?, ?, ?, ?)').run('u-alice', 'alice', 'a-hash', 1)
    })
    const { db } = await open(path)
    try {
      expect(await db.selectFrom('users').select('username').execute()).toEqual([{ username: 'alice' }])
      expect(await appliedMigrations(db)).toEqual(Object.keys(bankMigrations))
    } finally {
      await db.destroy()
    }
  })

  it('lets its users sign in with their passwords, through the app', async () => {
    const passwordHash = await argon2.hash('correct horse battery staple', { type: argon2.argon2id })
    const path = legacyFile(3, (db) => {
      db.prepare('INSERT INTO users VALUES (?, ?, ?, ?)').run(
        '0b5c2f7e-8d4a-4c1b-9e3f-2a6d8c0e4f11',
        'alice',
        passwordHash,
        1,
      )
      db.prepare('INSERT INTO accounts VALUES (?, ?, ?, ?, ?)').run(
        'a-1',
        '0b5c2f7e-8d4a-4c1b-9e3f-2a6d8c0e4f11',
        'Checking',
        12_345,
        1,
      )
    })
    const app = await buildTestApp({ DATABASE_PATH: path })
    try {
      const { accessToken } = await logIn(injectInto(app), alice)
      const accounts = await app.inject({ url: '/api/accounts', headers: { authorization: `Bearer ${accessToken}` } })
      expect(accounts.json().data).toEqual([{ id: 'a-1', name: 'Checking', balanceCents: 12_345 }])
    } finally {
      await app.close()
    }
  })
})
