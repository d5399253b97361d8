import type { FastifyRateLimitStore } from '@fastify/rate-limit'
import { type OpenedDatabase, openDatabase } from '@sso/shared/db'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { BankDatabase } from '../db/bank-database.js'
import { bankMigrations } from '../db/migrations/index.js'
import { createDatabaseRateLimitStore, LONGEST_RATE_LIMIT_WINDOW_MS } from './address-limits.js'

const windowMs = 60_000

describeEachEngine('rate-limit store', (engine) => {
  let database: OpenedDatabase<BankDatabase>
  let limits: ReturnType<typeof createDatabaseRateLimitStore>
  let store: FastifyRateLimitStore
  beforeEach(async () => {
    database = await openDatabase({ ...(await engine.createDatabase(bankMigrations)), migrations: bankMigrations })
    limits = createDatabaseRateLimitStore(database)
    // As @fastify/rate-limit uses it: one instance, a child per route (the same store here).
    store = new limits.Store().child()
  })
  afterEach(() => database.db.destroy())

  const hit = (key: string) =>
    new Promise<{ current: number; ttl: number }>((resolve, reject) =>
      store.incr(key, (error, result) => (error || !result ? reject(error) : resolve(result)), windowMs, 10),
    )
  /** Moves every window `ms` into the past, as the database's clock sees it. */
  const age = (ms: number) =>
    database.db
      .updateTable('rateLimitWindows')
      .set((eb) => ({ windowStartedAt: eb('windowStartedAt', '-', ms) }))
      .execute()

  it('counts each key on its own, and says how long its window has left', async () => {
    expect((await hit('203.0.113.1login')).current).toBe(1)
    const second = await hit('203.0.113.1login')
    expect(second.current).toBe(2)
    expect(second.ttl).toBeGreaterThan(windowMs - 5_000)
    expect(second.ttl).toBeLessThanOrEqual(windowMs)
    expect((await hit('203.0.113.2login')).current).toBe(1)
  })

  it('counts parallel hits exactly', async () => {
    const results = await Promise.all(Array.from({ length: 25 }, () => hit('203.0.113.3login')))
    expect(results.map((result) => result.current).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 25 }, (_, index) => index + 1),
    )
  })

  it('starts a new window once the old one has passed', async () => {
    for (let index = 0; index < 5; index++) await hit('203.0.113.4login')
    await age(windowMs - 5_000)
    expect((await hit('203.0.113.4login')).current).toBe(6)
    await age(5_001)
    const fresh = await hit('203.0.113.4login')
    expect(fresh.current).toBe(1)
    expect(fresh.ttl).toBeGreaterThan(windowMs - 5_000)
  })

  it('forgets only windows older than the longest limit', async () => {
    await hit('old')
    await age(LONGEST_RATE_LIMIT_WINDOW_MS + 1_000)
    await hit('recent')
    expect(await limits.deletePassed()).toBe(1)
    expect(await database.db.selectFrom('rateLimitWindows').select('key').execute()).toEqual([{ key: 'recent' }])
  })
})
