import { type BankDependencies, buildApp } from './app.js'
import type { PostLogoutToken } from './backchannel/logout-delivery.js'
import type { BankConfig } from './config.js'

/** A fixed 48-byte secret: tokens in tests are reproducible and pass the production rules. */
export const TEST_JWT_SECRET = 'bank-sso test secret: 48 bytes of not-a-secret!!'

/** The configuration tests start from: in-memory database, silent logs, the default lifetimes (docs/spec.md#configuration). */
export function createTestConfig(overrides: Partial<BankConfig> = {}): BankConfig {
  return {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: 3000,
    JWT_ALG: 'HS256',
    JWT_SECRET: TEST_JWT_SECRET,
    JWT_PREVIOUS_SECRETS: [],
    DATABASE_PATH: ':memory:',
    BANK_PUBLIC_URL: 'http://localhost:3000',
    RETIREMENT_PUBLIC_URL: 'http://localhost:3001',
    COOKIE_SECURE: false,
    TRUST_PROXY: [],
    LOG_LEVEL: 'silent',
    ACCESS_TOKEN_TTL: 900,
    REFRESH_TOKEN_TTL: 604_800,
    REFRESH_REUSE_GRACE: 10,
    BACKCHANNEL_LOGOUT_URLS: ['http://localhost:3001/backchannel/logout'],
    ...overrides,
  }
}

/** Stands in for retirement's back-channel endpoint: records every logout token and answers `status`. */
export function createLogoutReceiver(status = 200) {
  const receiver: { status: number; received: Array<{ url: string; logoutToken: string }>; post: PostLogoutToken } = {
    status,
    received: [],
    post: async (url, logoutToken) => {
      receiver.received.push({ url, logoutToken })
      return receiver.status
    },
  }
  return receiver
}

/**
 * Config overrides that point the app at a test database: what `engine.createDatabase()` of describeEachEngine
 * (e2e/support/test-databases.ts) returns, a PostgreSQL URL or a SQLite file.
 */
export function databaseConfig(settings: {
  databaseUrl?: string | undefined
  databasePath?: string | undefined
}): Partial<BankConfig> {
  if (settings.databaseUrl !== undefined) return { DATABASE_URL: settings.databaseUrl }
  return { DATABASE_PATH: settings.databasePath ?? ':memory:' }
}

/** A bank with a fresh ':memory:' database; close it in afterEach. Logout notices never leave the process. */
export function buildTestApp(
  overrides: Partial<BankConfig> = {},
  dependencies: BankDependencies = { postLogoutToken: createLogoutReceiver().post },
) {
  return buildApp(createTestConfig(overrides), dependencies)
}

export { alice, bob } from '@sso/shared/testing'

/** The cookies a response set, as a name → value map (cleared cookies have an empty value). */
export function cookiesOf(response: { cookies: Array<{ name: string; value: string }> }): Record<string, string> {
  return Object.fromEntries(response.cookies.map((cookie) => [cookie.name, cookie.value]))
}
