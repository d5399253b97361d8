import { type BankDependencies, buildApp } from './app.js'
import type { PostLogoutToken } from './backchannel/logout-delivery.js'
import type { BankConfig } from './config.js'

/** A fixed 48-byte secret: tokens in tests are reproducible and pass the production rules. */
export const TEST_JWT_SECRET = 'bank-sso test secret: 48 bytes of not-a-secret!!'

/** The configuration tests start from: in-memory database, silent logs, the contract's default lifetimes. */
export const testConfig: BankConfig = {
  NODE_ENV: 'test',
  HOST: '127.0.0.1',
  PORT: 3000,
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
  return buildApp({ ...testConfig, ...overrides }, dependencies)
}

type TestApp = Awaited<ReturnType<typeof buildTestApp>>

/** Usernames and passwords the tests sign up with. */
export const alice = { username: 'alice', password: 'correct horse battery staple' }
export const bob = { username: 'bob', password: 'hunter2 is not a password' }

/** Signs a user up through the JSON API and returns the new user's id. */
export async function signUp(app: TestApp, credentials: { username: string; password: string }) {
  const response = await app.inject({ method: 'POST', url: '/api/register', payload: credentials })
  if (response.statusCode !== 201) throw new Error(`sign-up failed: ${response.statusCode} ${response.body}`)
  return (response.json() as { data: { id: string } }).data.id
}

/** Logs in through the JSON API; returns the access token and both cookies, ready for `inject({ cookies })`. */
export async function logIn(app: TestApp, credentials: { username: string; password: string }) {
  const response = await app.inject({ method: 'POST', url: '/api/login', payload: credentials })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`)
  return { accessToken: (response.json() as { data: string }).data, cookies: cookiesOf(response) }
}

/** The cookies a response set, as a name → value map (cleared cookies have an empty value). */
export function cookiesOf(response: { cookies: Array<{ name: string; value: string }> }): Record<string, string> {
  return Object.fromEntries(response.cookies.map((cookie) => [cookie.name, cookie.value]))
}

/** The claims of a JWT, unverified: for asserting what was issued. */
export function decodeJwt(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [header = '', claims = ''] = token.split('.')
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')),
    claims: JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')),
  }
}
