// What every attack file needs: a real user with real tokens, forgeries built from them, and the checks that a
// refusal really is one (status, header, a body that says nothing and echoes nothing).
import {
  decodeToken,
  forgeToken,
  mergeMembers,
  registerAndLogIn as registerAndLogInAtBank,
  TEST_PASSWORD,
  uniqueUsername,
} from '@sso/shared/testing'
import { expect } from 'vitest'
import { HttpClient, postingTo } from '../support/http-client.js'
import { E2E_SECRET, type Services } from '../support/start-services.js'

/** The password of every test user. */
export const PASSWORD = TEST_PASSWORD
export { uniqueUsername }

/** A user registered and logged in through the bank's JSON API, and everything the login handed out. */
export interface TestUser {
  client: HttpClient
  username: string
  id: string
  accessToken: string
  refreshToken: string
  header: Record<string, unknown>
  claims: Record<string, unknown>
}

export async function registerAndLogIn(
  services: Services,
  { headers = {}, username = uniqueUsername() }: { headers?: Record<string, string>; username?: string } = {},
): Promise<TestUser> {
  const client = new HttpClient()
  const user = await registerAndLogInAtBank(postingTo(client, services.bankUrl), {
    username,
    headers,
    describe: () => services.describe(),
  })
  if (!user.refreshToken) throw new Error('login set no refresh cookie')
  const { id, accessToken, refreshToken } = user
  return { client, username, id, accessToken, refreshToken, ...decodeToken(accessToken) }
}

export interface ForgeOptions {
  /** Merged over the real header; a value of undefined removes the member. */
  header?: Record<string, unknown>
  /** Merged over the real claims; a value of undefined removes the claim. */
  claims?: Record<string, unknown>
  /** The key to sign with; the services' real secret unless the test is about the key. */
  secret?: string | Buffer
  /** SHA-256 whatever the header's alg says, unless the test is about the hash. */
  hash?: 'sha256' | 'sha384' | 'sha512'
}

/** A token like the user's real one with exactly the changes asked for, signed (by default) with the real key. */
export function forge(user: TestUser, { header, claims, secret = E2E_SECRET, hash = 'sha256' }: ForgeOptions = {}) {
  return forgeToken(mergeMembers(user.header, header), mergeMembers(user.claims, claims), secret, hash)
}

/** A token from raw header and payload text (duplicates, odd encodings), signed with the real key. */
export function signRaw(headerJson: string, payloadJson: string, secret: string | Buffer = E2E_SECRET): string {
  return forgeToken(headerJson, payloadJson, secret, 'sha256')
}

export const nowSeconds = () => Math.floor(Date.now() / 1000)

/**
 * A refused access token: 401, `WWW-Authenticate: Bearer`, the generic error body, and nothing it must not
 * carry (the user's data, the token itself, a stack trace or a reason an attacker could learn from).
 */
export async function expectTokenRefused(response: Response, token?: string, user?: TestUser) {
  const text = await response.text()
  expect(response.status, text).toBe(401)
  expect(response.headers.get('www-authenticate') ?? '').toMatch(/^Bearer\b/)
  const body = JSON.parse(text)
  expect(body).toMatchObject({ status: 'error' })
  expect(body).not.toHaveProperty('data')
  expect(typeof body.error).toBe('string')
  expectNothingLeaked(text, [token, user?.id, user?.username])
}

/** No stack trace, SQL or secret in a body; nor any of the given values (tokens, ids) when they are long enough. */
export function expectNothingLeaked(text: string, values: ReadonlyArray<string | undefined> = []) {
  expect(text).not.toMatch(/\bat [\w.<>]+ \(|node:internal|\/dist\/|\.ts:\d+|\.js:\d+/)
  expect(text).not.toMatch(/SQLITE|\bSELECT\b|\bINSERT INTO\b|\bFROM\b \w+ WHERE/i)
  expect(text).not.toContain(E2E_SECRET)
  for (const value of values) if (value && value.length >= 8) expect(text).not.toContain(value)
}

/** GET /api/me at one service with a token in the Authorization header. */
export function meWithBearer(baseUrl: string, token: string) {
  return fetch(`${baseUrl}/api/me`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  })
}

/** GET /api/me at one service with a token in the access_token cookie. */
export function meWithCookie(baseUrl: string, token: string) {
  return fetch(`${baseUrl}/api/me`, {
    headers: { cookie: `access_token=${token}` },
    signal: AbortSignal.timeout(10_000),
  })
}

/** A refresh token as the bank issues it: `<sid>.<generation>.<256-bit secret>.<128-bit MAC>`, base64url parts. */
export const REFRESH_TOKEN_FORMAT = /^[0-9a-f-]{36}\.\d+\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}$/
