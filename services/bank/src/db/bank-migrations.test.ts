import { type OpenedDatabase, openDatabase } from '@sso/shared/db'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { BankDatabase } from './bank-database.js'
import { bankMigrations } from './migrations/index.js'

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
      logout_outbox: ['attempts', 'created_at', 'give_up_at', 'id', 'next_attempt_at', 'session_id', 'url', 'user_id'],
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
