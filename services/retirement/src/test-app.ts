import { randomUUID } from 'node:crypto'
import { openDatabase } from '@sso/shared/db'
import { alice as sharedAlice } from '@sso/shared/testing'
import { buildApp, type RetirementAppOptions } from './app.js'
import type { RetirementConfig } from './config.js'
import { retirementMigrations } from './db/migrations/index.js'
import type { RetirementDatabase } from './db/retirement-database.js'

/** A fixed secret, long enough and random-looking enough to pass the config checks. */
export const TEST_JWT_SECRET = 'retirement-test-key-5f3a9c1e7b2d4086-a1b2c3d4e5f6'
export const TEST_BANK_URL = 'http://localhost:3000'
export const TEST_RETIREMENT_URL = 'http://localhost:3001'

/** A literal config as loadConfig would produce it: ':memory:' database, fixed secret, silent logs. */
export function createTestConfig(overrides: Partial<RetirementConfig> = {}): RetirementConfig {
  return {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: 3001,
    JWT_ALG: 'HS256',
    JWT_SECRET: TEST_JWT_SECRET,
    JWT_PREVIOUS_SECRETS: [],
    DATABASE_PATH: ':memory:',
    BANK_PUBLIC_URL: TEST_BANK_URL,
    RETIREMENT_PUBLIC_URL: TEST_RETIREMENT_URL,
    COOKIE_SECURE: false,
    TRUST_PROXY: [],
    LOG_LEVEL: 'silent',
    MAX_ACCESS_TOKEN_TTL: 86_400,
    ...overrides,
  }
}

/**
 * Config overrides that point the app at a test database: what `engine.createDatabase()` of describeEachEngine
 * (e2e/support/test-databases.ts) returns, a PostgreSQL URL or a SQLite file.
 */
export function databaseConfig(settings: {
  databaseUrl?: string | undefined
  databasePath?: string | undefined
}): Partial<RetirementConfig> {
  if (settings.databaseUrl !== undefined) return { DATABASE_URL: settings.databaseUrl }
  return { DATABASE_PATH: settings.databasePath ?? ':memory:' }
}

/** A retirement with a fresh ':memory:' database; close it in afterEach. */
export function buildTestApp(overrides: Partial<RetirementConfig> = {}, options: RetirementAppOptions = {}) {
  return buildApp(createTestConfig(overrides), options)
}

/** The bank's `alice` of the bank's tests, as retirement sees her: the id the bank gave her, and her username. */
export const alice = { id: '0b5c2f7e-8d4a-4c1b-9e3f-2a6d8c0e4f11', username: sharedAlice.username }

/** The header of a Bearer request. */
export function bearer(token: string) {
  return { authorization: `Bearer ${token}` }
}

/**
 * Writes `count` contributions of 1, 2, 3… cents for `userId` straight into a test database, added long ago (outside
 * the per-user limit's window), for tests that need more than the limit lets the API add in a minute. Returns their
 * ids, oldest first.
 */
export async function seedContributions(
  settings: { databaseUrl?: string | undefined; databasePath?: string | undefined },
  userId: string,
  count: number,
): Promise<string[]> {
  const { db } = await openDatabase<RetirementDatabase>({ ...settings, migrations: retirementMigrations })
  try {
    const createdAt = '2026-01-01T00:00:00.000Z'
    await db.insertInto('plans').values({ userId, createdAt, contributionCount: count }).execute()
    const rows = Array.from({ length: count }, (_, index) => ({
      id: randomUUID(),
      userId,
      amountCents: index + 1,
      createdAt,
      sequence: index + 1,
      addedAtMs: 0,
    }))
    // In chunks: both engines cap the parameters of one statement.
    for (let start = 0; start < count; start += 500) {
      await db
        .insertInto('contributions')
        .values(rows.slice(start, start + 500))
        .execute()
    }
    return rows.map((row) => row.id)
  } finally {
    await db.destroy()
  }
}
