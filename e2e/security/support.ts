// What every attack file needs: a real user with real tokens, forgeries built from them, and the checks that a
// refusal really is one (status, header, a body that says nothing and echoes nothing).
import { createHmac, randomBytes } from 'node:crypto'
import { expect } from 'vitest'
import { HttpClient, readJson } from '../support/http-client.js'
import { E2E_SECRET, type Services } from '../support/start-services.js'
import { decodeToken } from '../support/tokens.js'

export const PASSWORD = 'correct horse battery staple'

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

/** A fresh, unique username: every test gets its own user, so no test's lockout or logout touches another's. */
export function uniqueUsername(prefix = 'u'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`
}

export async function registerAndLogIn(
  services: Services,
  { headers = {}, username = uniqueUsername() }: { headers?: Record<string, string>; username?: string } = {},
): Promise<TestUser> {
  const client = new HttpClient()
  const registered = await client.sendJson(
    'POST',
    `${services.bankUrl}/api/register`,
    { username, password: PASSWORD },
    headers,
  )
  expect(registered.status, services.describe()).toBe(201)
  const { data: user } = await readJson(registered)
  const login = await client.sendJson(
    'POST',
    `${services.bankUrl}/api/login`,
    { username, password: PASSWORD },
    headers,
  )
  expect(login.status, services.describe()).toBe(200)
  const accessToken = (await readJson(login)).data as string
  // `__Host-refresh_token` when the services run with COOKIE_SECURE=true.
  const refreshToken = client.jar.get('refresh_token') ?? client.jar.get('__Host-refresh_token')
  if (!refreshToken) throw new Error('login set no refresh cookie')
  return { client, username, id: user.id, accessToken, refreshToken, ...decodeToken(accessToken) }
}

/** base64url of a JSON value (or of a raw string, taken as is). */
export function encodeSegment(part: unknown): string {
  return Buffer.from(typeof part === 'string' ? part : JSON.stringify(part)).toString('base64url')
}

/** HMAC of the signing input with any hash and any key: forgeries that differ from a real token in one thing. */
export function hmac(signingInput: string, secret: string | Buffer, hash: 'sha256' | 'sha384' | 'sha512' = 'sha256') {
  return createHmac(hash, secret).update(signingInput).digest('base64url')
}

export interface ForgeOptions {
  /** Merged over the real header; a value of undefined removes the member. */
  header?: Record<string, unknown>
  /** Merged over the real claims; a value of undefined removes the claim. */
  claims?: Record<string, unknown>
  /** The key to sign with; the services' real secret unless the test is about the key. */
  secret?: string | Buffer
  hash?: 'sha256' | 'sha384' | 'sha512'
}

function merge(base: Record<string, unknown>, changes: Record<string, unknown> = {}) {
  const merged: Record<string, unknown> = { ...base, ...changes }
  for (const [name, value] of Object.entries(changes)) if (value === undefined) delete merged[name]
  return merged
}

/** A token like the user's real one with exactly the changes asked for, signed (by default) with the real key. */
export function forge(user: TestUser, { header, claims, secret = E2E_SECRET, hash = 'sha256' }: ForgeOptions = {}) {
  const signingInput = `${encodeSegment(merge(user.header, header))}.${encodeSegment(merge(user.claims, claims))}`
  return `${signingInput}.${hmac(signingInput, secret, hash)}`
}

/** A token from raw header and payload text (duplicates, odd encodings), signed with the real key. */
export function signRaw(headerJson: string, payloadJson: string, secret: string | Buffer = E2E_SECRET): string {
  const signingInput = `${encodeSegment(headerJson)}.${encodeSegment(payloadJson)}`
  return `${signingInput}.${hmac(signingInput, secret)}`
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

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/**
 * Every other spelling of a token's bytes: a segment whose length is 2 or 3 more than a multiple of 4 ends in a
 * character with 4 or 2 bits that encode nothing (RFC 4648 §3.5: zero). One token per respelling, in any segment.
 */
export function respellings(token: string): string[] {
  const segments = token.split('.')
  return segments.flatMap((segment, index) => {
    const spareBits = segment.length % 4 === 2 ? 4 : segment.length % 4 === 3 ? 2 : 0
    const last = BASE64URL_ALPHABET.indexOf(segment.at(-1) ?? '')
    return Array.from({ length: 2 ** spareBits - 1 }, (_, step) => {
      const respelled = [...segments]
      respelled[index] = segment.slice(0, -1) + BASE64URL_ALPHABET[last + step + 1]
      return respelled.join('.')
    })
  })
}

/** Pads a header and claims (a `pad` member in each) until every segment of the token `sign` makes has spare bits. */
export function withSpareBitsInEverySegment(
  sign: (header: Record<string, unknown>, claims: Record<string, unknown>) => string,
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
): string {
  for (let headerPad = 0; headerPad < 3; headerPad++) {
    for (let claimsPad = 0; claimsPad < 3; claimsPad++) {
      const token = sign(
        headerPad > 0 ? { ...header, pad: 'x'.repeat(headerPad) } : header,
        claimsPad > 0 ? { ...claims, pad: 'x'.repeat(claimsPad) } : claims,
      )
      if (token.split('.').every((segment) => segment.length % 4 !== 0)) return token
    }
  }
  throw new Error('no padding gives every segment spare bits')
}

/** A refresh token as the bank issues it: `<sid>.<generation>.<256-bit secret>.<128-bit MAC>`, base64url parts. */
export const REFRESH_TOKEN_FORMAT = /^[0-9a-f-]{36}\.\d+\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}$/
