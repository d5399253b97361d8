import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { SignedInUser } from './access-token.js'
import { ssoAuth } from './auth-plugin.js'
import { replyWithoutInternals } from './error-handler.js'
import { InvalidLogoutTokenError } from './errors.js'
import { createKeyring, deriveKeyId } from './keyring.js'
import {
  BACKCHANNEL_LOGOUT_EVENT,
  LOGOUT_TOKEN_MAX_LIFETIME_SECONDS,
  signLogoutToken,
  verifyLogoutToken,
} from './logout-token.js'
import { forgeToken, forgeTokenWithSpareBits, respellings, validClaims } from './testing/tokens.js'

const SECRET = 'logout-token-test-secret-0123456789-abcdefghijklmn'
const PREVIOUS_SECRET = 'logout-token-previous-secret-9876543210-zyxwvutsr'
const OTHER_SECRET = 'some-other-deployment-secret-5555-abcdefghijklmnopq'
const keyring = createKeyring(SECRET, [PREVIOUS_SECRET])
const USER_ID = validClaims().sub as string

let revokedSessions: Set<string>
let app: FastifyInstance
beforeEach(async () => {
  revokedSessions = new Set()
  app = Fastify()
  app.setErrorHandler(replyWithoutInternals)
  await app.register(ssoAuth, {
    keyring,
    audience: 'retirement',
    cookies: { secure: false },
    issuing: { accessTokenTtlSeconds: 900 },
    isRevoked: (user: SignedInUser) => revokedSessions.has(user.sessionId),
  })
  app.post('/issue', async (_request, reply) => ({
    token: await reply.issueAccessToken(
      { id: USER_ID, username: 'alice' },
      { id: 'session-1', expiresAtMs: Date.now() + 86_400_000 },
    ),
  }))
  app.get('/me', { onRequest: app.requireSession }, async (request) => request.user)
  app.get('/maybe', async (request) => ({ user: await app.findSignedInUser(request) }))
  await app.ready()
})
afterEach(async () => {
  vi.useRealTimers()
  await app.close()
})

function decode(token: string) {
  const [header = '', claims = ''] = token.split('.')
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')),
    claims: JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')),
  }
}

const verify = (token: string) => verifyLogoutToken(app.jwt, keyring, 'retirement', token)
const nowSeconds = () => Math.floor(Date.now() / 1000)

function logoutClaims(overrides: Record<string, unknown> = {}) {
  const now = nowSeconds()
  return {
    iss: 'bank',
    aud: ['retirement'],
    iat: now,
    exp: now + 120,
    jti: 'logout-1',
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    sid: 'session-1',
    ...overrides,
  }
}
const logoutHeader = (overrides: Record<string, unknown> = {}) => ({
  alg: 'HS256',
  typ: 'logout+jwt',
  kid: deriveKeyId(SECRET),
  ...overrides,
})

describe('signLogoutToken', () => {
  it('signs HS256 with typ logout+jwt, the current kid and the back-channel claims, valid for 2 minutes', () => {
    const token = signLogoutToken(app.jwt, keyring, { sid: 'session-1', sub: USER_ID })
    const { header, claims } = decode(token)
    expect(header).toEqual({ alg: 'HS256', typ: 'logout+jwt', kid: deriveKeyId(SECRET) })
    expect(claims).toMatchObject({
      iss: 'bank',
      aud: ['retirement'],
      sid: 'session-1',
      sub: USER_ID,
      events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    })
    expect(claims.exp - claims.iat).toBe(LOGOUT_TOKEN_MAX_LIFETIME_SECONDS)
    expect(Math.abs(claims.iat - nowSeconds())).toBeLessThanOrEqual(1)
    expect(claims).not.toHaveProperty('nonce')
    expect(claims).not.toHaveProperty('username')
  })

  it('gives every token a fresh jti, and carries sub alone when asked', () => {
    const first = decode(signLogoutToken(app.jwt, keyring, { sub: USER_ID })).claims
    const second = decode(signLogoutToken(app.jwt, keyring, { sub: USER_ID })).claims
    expect(first.jti).not.toBe(second.jti)
    expect(first).not.toHaveProperty('sid')
    expect(first.sub).toBe(USER_ID)
  })
})

describe('verifyLogoutToken', () => {
  it('accepts what the bank signs and returns the notice', () => {
    const token = signLogoutToken(app.jwt, keyring, { sid: 'session-1', sub: USER_ID })
    const notice = verify(token)
    expect(notice).toMatchObject({ sessionId: 'session-1', userId: USER_ID, tokenId: decode(token).claims.jti })
    expect(notice.expiresAtSeconds - notice.issuedAtSeconds).toBe(120)
  })

  it('accepts typ application/logout+jwt in any case, and a token signed with a previous key', () => {
    for (const typ of ['application/logout+jwt', 'Logout+JWT']) {
      expect(verify(forgeToken(logoutHeader({ typ }), logoutClaims(), SECRET)).sessionId).toBe('session-1')
    }
    const previous = forgeToken(logoutHeader({ kid: deriveKeyId(PREVIOUS_SECRET) }), logoutClaims(), PREVIOUS_SECRET)
    expect(verify(previous).sessionId).toBe('session-1')
    expect(verify(forgeToken(logoutHeader(), logoutClaims({ sid: undefined, sub: USER_ID }), SECRET))).toMatchObject({
      sessionId: undefined,
      userId: USER_ID,
    })
  })

  it('refuses every other base64url spelling of a valid logout token, so the jti replay store sees one token once', () => {
    const token = forgeTokenWithSpareBits(logoutHeader(), logoutClaims(), SECRET)
    expect(verify(token).sessionId).toBe('session-1')
    const others = respellings(token)
    expect(others.length).toBeGreaterThanOrEqual(3)
    for (const other of others) expect(() => verify(other)).toThrow(InvalidLogoutTokenError)
    const signed = signLogoutToken(app.jwt, keyring, { sid: 'session-1' })
    for (const other of respellings(signed)) expect(() => verify(other)).toThrow(InvalidLogoutTokenError)
  })

  const refusals: Array<[string, () => string]> = [
    ['signed with another key under the real kid', () => forgeToken(logoutHeader(), logoutClaims(), OTHER_SECRET)],
    ['an unknown kid', () => forgeToken(logoutHeader({ kid: 'nope' }), logoutClaims(), SECRET)],
    ['no kid', () => forgeToken(logoutHeader({ kid: undefined }), logoutClaims(), SECRET)],
    ['alg none', () => forgeToken(logoutHeader({ alg: 'none' }), logoutClaims(), SECRET)],
    ['HS512', () => forgeToken(logoutHeader({ alg: 'HS512' }), logoutClaims(), SECRET)],
    ['typ JWT', () => forgeToken(logoutHeader({ typ: 'JWT' }), logoutClaims(), SECRET)],
    ['no typ', () => forgeToken(logoutHeader({ typ: undefined }), logoutClaims(), SECRET)],
    ['another issuer', () => forgeToken(logoutHeader(), logoutClaims({ iss: 'evil' }), SECRET)],
    ['an audience without retirement', () => forgeToken(logoutHeader(), logoutClaims({ aud: ['bank'] }), SECRET)],
    ['no events claim', () => forgeToken(logoutHeader(), logoutClaims({ events: undefined }), SECRET)],
    [
      'another event',
      () => forgeToken(logoutHeader(), logoutClaims({ events: { 'http://example.com/other': {} } }), SECRET),
    ],
    [
      'an event member that is not an object',
      () => forgeToken(logoutHeader(), logoutClaims({ events: { [BACKCHANNEL_LOGOUT_EVENT]: 'yes' } }), SECRET),
    ],
    ['neither sid nor sub', () => forgeToken(logoutHeader(), logoutClaims({ sid: undefined }), SECRET)],
    ['a nonce', () => forgeToken(logoutHeader(), logoutClaims({ nonce: 'n-0S6_WzA2Mj' }), SECRET)],
    ['no jti', () => forgeToken(logoutHeader(), logoutClaims({ jti: undefined }), SECRET)],
    ['no iat', () => forgeToken(logoutHeader(), logoutClaims({ iat: undefined }), SECRET)],
    ['no exp', () => forgeToken(logoutHeader(), logoutClaims({ exp: undefined }), SECRET)],
    [
      'a lifetime over 2 minutes',
      () => forgeToken(logoutHeader(), logoutClaims({ exp: nowSeconds() + 121, iat: nowSeconds() }), SECRET),
    ],
    [
      'an expired token',
      () => forgeToken(logoutHeader(), logoutClaims({ iat: nowSeconds() - 200, exp: nowSeconds() - 80 }), SECRET),
    ],
    [
      'an iat in the future',
      () => forgeToken(logoutHeader(), logoutClaims({ iat: nowSeconds() + 60, exp: nowSeconds() + 120 }), SECRET),
    ],
    ['a malformed token', () => 'not.a.token'],
    ['an oversized token', () => forgeToken(logoutHeader(), logoutClaims({ pad: 'x'.repeat(5000) }), SECRET)],
  ]
  it.each(refusals)('refuses a logout token with %s', (_name, makeToken) => {
    expect(() => verify(makeToken())).toThrow(expect.objectContaining({ code: 'SSO_LOGOUT_TOKEN_INVALID' }))
  })

  it('refuses an access token as a logout token, even one carrying an events claim', async () => {
    const { token } = (await app.inject({ method: 'POST', url: '/issue' })).json()
    expect(() => verify(token)).toThrow(expect.objectContaining({ statusCode: 400 }))
    const accessWithEvents = forgeToken(
      { alg: 'HS256', typ: 'JWT', kid: deriveKeyId(SECRET) },
      validClaims({ aud: ['bank', 'retirement'], events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } }),
      SECRET,
    )
    expect(() => verify(accessWithEvents)).toThrow(expect.objectContaining({ statusCode: 400 }))
  })
})

describe('access tokens and single logout', () => {
  it('refuses a logout token as an access token (401), whatever claims it adds', async () => {
    const logoutToken = signLogoutToken(app.jwt, keyring, { sid: 'session-1', sub: USER_ID })
    expect((await app.inject({ url: '/me', headers: { authorization: `Bearer ${logoutToken}` } })).statusCode).toBe(401)
    // Even with every access-token claim present, the typ alone tells it apart.
    const dressedUp = forgeToken(logoutHeader(), { ...validClaims(), events: logoutClaims().events }, SECRET)
    const response = await app.inject({ url: '/me', headers: { authorization: `Bearer ${dressedUp}` } })
    expect(response.statusCode).toBe(401)
    expect(response.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
  })

  it('refuses a verified access token whose session isRevoked reports, like any invalid token', async () => {
    const { token } = (await app.inject({ method: 'POST', url: '/issue' })).json()
    const other = forgeToken(
      { alg: 'HS256', typ: 'JWT', kid: deriveKeyId(SECRET) },
      validClaims({ sid: 'session-2' }),
      SECRET,
    )
    expect((await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200)

    revokedSessions.add('session-1')
    const refused = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
    expect(refused.statusCode).toBe(401)
    expect(refused.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
    expect(refused.json()).toMatchObject({ status: 'error', code: 'SSO_TOKEN_INVALID' })
    // The same token, verified before and now in the plugin's verified-token cache, is still checked against the list.
    const page = await app.inject({ url: '/maybe', cookies: { access_token: token } })
    expect(page.json()).toEqual({ user: null })
    // Other sessions are untouched.
    expect((await app.inject({ url: '/me', headers: { authorization: `Bearer ${other}` } })).statusCode).toBe(200)
  })
})
