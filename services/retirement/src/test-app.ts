import { createHmac, randomUUID } from 'node:crypto'
import { deriveKeyId } from '@sso/shared'
import { buildApp, type RetirementAppOptions } from './app.js'
import type { RetirementConfig } from './config.js'

/** A fixed secret, long enough and random-looking enough to pass the config checks. */
export const TEST_SECRET = 'retirement-test-key-5f3a9c1e7b2d4086-a1b2c3d4e5f6'
export const TEST_BANK_URL = 'http://localhost:3000'
export const TEST_RETIREMENT_URL = 'http://localhost:3001'

/** A literal config as loadConfig would produce it: ':memory:' database, fixed secret, silent logs. */
export function createTestConfig(overrides: Partial<RetirementConfig> = {}): RetirementConfig {
  return {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: 3001,
    JWT_SECRET: TEST_SECRET,
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

export function buildTestApp(overrides: Partial<RetirementConfig> = {}, options: RetirementAppOptions = {}) {
  return buildApp(createTestConfig(overrides), options)
}

export interface TestTokenOptions {
  secret?: string
  /** Replaces the header entirely, e.g. to drop `kid` or claim another algorithm. */
  header?: Record<string, unknown>
  /** Merged over the claims the bank would issue; a value of undefined removes that claim. */
  claims?: Record<string, unknown>
}

export const alice = { id: '0b5c2f7e-8d4a-4c1b-9e3f-2a6d8c0e4f11', username: 'alice' }

/**
 * Signs an access token with the claims and header the bank issues (HS256, `kid` derived from the key), with
 * nothing but node:crypto, so a test can also forge every way a token can be wrong.
 */
export function signTestToken(user: { id: string; username: string } = alice, options: TestTokenOptions = {}) {
  const secret = options.secret ?? TEST_SECRET
  const nowSeconds = Math.floor(Date.now() / 1000)
  const header = options.header ?? { alg: 'HS256', typ: 'JWT', kid: deriveKeyId(secret) }
  const claims: Record<string, unknown> = {
    sub: user.id,
    username: user.username,
    sid: randomUUID(),
    iss: 'bank',
    aud: ['bank', 'retirement'],
    iat: nowSeconds,
    exp: nowSeconds + 900,
    jti: randomUUID(),
    ...options.claims,
  }
  const encode = (part: unknown) => Buffer.from(JSON.stringify(part)).toString('base64url')
  const signingInput = `${encode(header)}.${encode(claims)}`
  const signature = createHmac('sha256', secret).update(signingInput).digest('base64url')
  return `${signingInput}.${signature}`
}

/** The header of a Bearer request. */
export function bearer(token: string) {
  return { authorization: `Bearer ${token}` }
}
