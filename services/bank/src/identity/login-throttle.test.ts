import { type OpenedDatabase, openDatabase } from '@sso/shared/db'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { BankDatabase } from '../db/bank-database.js'
import { bankMigrations } from '../db/migrations/index.js'
import { createLoginThrottle } from './login-throttle.js'

const limits = { maxFailures: 3, windowMs: 60_000 }

describeEachEngine('login throttle', (engine) => {
  let database: OpenedDatabase<BankDatabase>
  beforeEach(async () => {
    database = await openDatabase({ ...(await engine.createDatabase(bankMigrations)), migrations: bankMigrations })
  })
  afterEach(() => database.db.destroy())

  /** Moves one username's count `ms` into the past, as the database's clock sees it. */
  const age = (username: string, ms: number) =>
    database.db
      .updateTable('loginThrottle')
      .set((eb) => ({ lastAttemptAt: eb('lastAttemptAt', '-', ms) }))
      .where('username', '=', username)
      .execute()

  it('locks after the limit, says for how long, and starts over once the window has passed', async () => {
    const throttle = createLoginThrottle(database, limits)
    for (let attempt = 0; attempt < limits.maxFailures; attempt++) {
      expect(await throttle.countAttempt('mallory')).toEqual({ allowed: true })
    }
    const locked = await throttle.countAttempt('mallory')
    expect(locked).toMatchObject({ allowed: false })
    expect(locked.allowed === false && locked.retryAfterSeconds).toBeGreaterThan(55)
    await age('mallory', limits.windowMs)
    expect(await throttle.countAttempt('mallory')).toEqual({ allowed: true })
  })

  it('forgets the counts of names nobody tried within the window, and keeps the others', async () => {
    const throttle = createLoginThrottle(database, limits)
    await throttle.countAttempt('old')
    await throttle.countAttempt('recent')
    await age('old', limits.windowMs + 1)
    expect(await throttle.deleteExpired()).toBe(1)
    expect(await database.db.selectFrom('loginThrottle').select('username').execute()).toEqual([{ username: 'recent' }])
  })
})
