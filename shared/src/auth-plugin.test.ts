import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { MAX_TOKEN_BYTES } from './access-token.js'
import { ssoAuth } from './auth-plugin.js'
import { replyWithoutInternals } from './error-handler.js'
import { createKeyring, deriveKeyId } from './keyring.js'
import { forgeToken, forgeTokenWithSpareBits, respellings, validClaims } from './testing/tokens.js'

const SECRET = 'auth-plugin-test-secret-0123456789-abcdefghijklmnop'
const PREVIOUS_SECRET = 'auth-plugin-previous-secret-9876543210-zyxwvutsrq'
const OTHER_SECRET = 'some-other-deployment-secret-5555-abcdefghijklmnopq'
const header = (overrides: Record<string, unknown> = {}) => ({
  alg: 'HS256',
  typ: 'JWT',
  kid: deriveKeyId(SECRET),
  ...overrides,
})

let app: FastifyInstance
beforeEach(async () => {
  app = Fastify()
  app.setErrorHandler(replyWithoutInternals)
  await app.register(ssoAuth, {
    keyring: createKeyring(SECRET, [PREVIOUS_SECRET]),
    audience: 'retirement',
    cookies: { secure: false },
    issuing: { accessTokenTtlSeconds: 900 },
  })
  app.post('/issue', async (_request, reply) => ({
    token: await reply.issueAccessToken(
      { id: validClaims().sub as string, username: 'alice' },
      { id: 'session-1', expiresAtMs: Date.now() + 86_400_000 },
    ),
  }))
  app.get('/me', { onRequest: app.requireSession }, async (request) => request.user)
  app.get('/maybe', async (request) => ({ user: await app.findSignedInUser(request) }))
})
afterEach(async () => {
  vi.useRealTimers()
  await app.close()
})

const withBearer = (token: string) => app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })

describe('issuing', () => {
  it('signs HS256 with the kid of the current key and the claims of docs/spec.md#access-tokens, and sets the cookie', async () => {
    const response = await app.inject({ method: 'POST', url: '/issue' })
    const { token } = response.json()
    const [encodedHeader, encodedPayload] = token.split('.')
    expect(JSON.parse(Buffer.from(encodedHeader, 'base64url').toString())).toEqual({
      alg: 'HS256',
      typ: 'JWT',
      kid: deriveKeyId(SECRET),
    })
    const claims = JSON.parse(Buffer.from(encodedPayload, 'base64url').toString())
    expect(claims).toMatchObject({ sub: validClaims().sub, username: 'alice', sid: 'session-1', iss: 'bank' })
    expect(claims.aud).toEqual(['bank', 'retirement'])
    expect(claims.exp - claims.iat).toBe(900)
    expect(typeof claims.jti).toBe('string')
    const cookie = response.cookies.find((c) => c.name === 'access_token')
    expect(cookie).toMatchObject({ value: token, httpOnly: true, sameSite: 'Lax', path: '/', maxAge: 900 })
    expect(cookie?.domain).toBeUndefined()
  })

  it('gives every token its own jti', async () => {
    const first = (await app.inject({ method: 'POST', url: '/issue' })).json().token
    const second = (await app.inject({ method: 'POST', url: '/issue' })).json().token
    const jti = (token: string) => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).jti
    expect(jti(first)).not.toBe(jti(second))
  })
})

describe('verifying', () => {
  it('accepts a token the bank issued, from the Bearer header or the cookie', async () => {
    const { token } = (await app.inject({ method: 'POST', url: '/issue' })).json()
    expect((await withBearer(token)).json()).toMatchObject({
      id: validClaims().sub,
      username: 'alice',
      sessionId: 'session-1',
    })
    const viaCookie = await app.inject({ url: '/me', cookies: { access_token: token } })
    expect(viaCookie.statusCode).toBe(200)
  })

  it('prefers the Bearer header over the cookie', async () => {
    const good = forgeToken(header(), validClaims({ username: 'bearer-user' }), SECRET)
    const other = forgeToken(header(), validClaims({ username: 'cookie-user' }), SECRET)
    const response = await app.inject({
      url: '/me',
      headers: { authorization: `Bearer ${good}` },
      cookies: { access_token: other },
    })
    expect(response.json().username).toBe('bearer-user')
  })

  it('accepts a token signed with a previous key named by its kid (rotation)', async () => {
    const token = forgeToken(header({ kid: deriveKeyId(PREVIOUS_SECRET) }), validClaims(), PREVIOUS_SECRET)
    expect((await withBearer(token)).statusCode).toBe(200)
  })

  it('answers 401 with WWW-Authenticate: Bearer when no token is sent', async () => {
    const response = await app.inject({ url: '/me' })
    expect(response.statusCode).toBe(401)
    expect(response.headers['www-authenticate']).toBe('Bearer')
    expect(response.json()).toEqual({
      status: 'error',
      error: 'Sign in first: no access token was sent',
      code: 'SSO_TOKEN_MISSING',
    })
  })

  const refused: Array<[string, () => string]> = [
    ['alg none', () => forgeToken(header({ alg: 'none' }), validClaims(), SECRET)],
    ['alg None', () => forgeToken(header({ alg: 'None' }), validClaims(), SECRET)],
    ['HS384 with the right key', () => forgeToken(header({ alg: 'HS384' }), validClaims(), SECRET)],
    ['HS512 with the right key', () => forgeToken(header({ alg: 'HS512' }), validClaims(), SECRET)],
    ['an empty signature', () => `${forgeToken(header(), validClaims(), SECRET).split('.').slice(0, 2).join('.')}.`],
    [
      'a tampered payload under the original signature',
      () => {
        const [h, , s] = forgeToken(header(), validClaims(), SECRET).split('.')
        const payload = Buffer.from(JSON.stringify(validClaims({ username: 'mallory' }))).toString('base64url')
        return `${h}.${payload}.${s}`
      },
    ],
    ['a wrong key under our kid', () => forgeToken(header(), validClaims(), OTHER_SECRET)],
    ['an unknown kid', () => forgeToken(header({ kid: deriveKeyId(OTHER_SECRET) }), validClaims(), OTHER_SECRET)],
    ['no kid', () => forgeToken(header({ kid: undefined }), validClaims(), SECRET)],
    ['a kid that is a path', () => forgeToken(header({ kid: '../../../dev/null' }), validClaims(), '')],
    ['an expired token', () => forgeToken(header(), validClaims({ exp: Math.floor(Date.now() / 1000) - 60 }), SECRET)],
    ['a token without exp', () => forgeToken(header(), validClaims({ exp: undefined }), SECRET)],
    ['a token without iat', () => forgeToken(header(), validClaims({ iat: undefined }), SECRET)],
    ['a non-numeric exp', () => forgeToken(header(), validClaims({ exp: 'tomorrow' }), SECRET)],
    [
      'iat 90 s in the future',
      () => forgeToken(header(), validClaims({ iat: Math.floor(Date.now() / 1000) + 90 }), SECRET),
    ],
    [
      'nbf 90 s in the future',
      () => forgeToken(header(), validClaims({ nbf: Math.floor(Date.now() / 1000) + 90 }), SECRET),
    ],
    ['a wrong iss', () => forgeToken(header(), validClaims({ iss: 'evil' }), SECRET)],
    ['an aud without this service', () => forgeToken(header(), validClaims({ aud: ['bank'] }), SECRET)],
    ['no aud', () => forgeToken(header(), validClaims({ aud: undefined }), SECRET)],
    ['no sub', () => forgeToken(header(), validClaims({ sub: undefined }), SECRET)],
    ['a sub that is not a UUID', () => forgeToken(header(), validClaims({ sub: 'admin' }), SECRET)],
    ['a logout token (typ logout+jwt)', () => forgeToken(header({ typ: 'logout+jwt' }), validClaims(), SECRET)],
    ['an unknown critical header', () => forgeToken(header({ crit: ['exp-v2'], 'exp-v2': 1 }), validClaims(), SECRET)],
    ['a string payload', () => forgeToken(header(), 'alice', SECRET)],
    ['two parts', () => forgeToken(header(), validClaims(), SECRET).split('.').slice(0, 2).join('.')],
    ['garbage', () => 'not.a.jwt'],
  ]
  it.each(refused)('refuses %s with 401 and WWW-Authenticate', async (_name, makeToken) => {
    const response = await withBearer(makeToken())
    expect(response.statusCode).toBe(401)
    expect(response.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
    expect(response.json().error).toBe('The access token is invalid or expired')
  })

  it.each([
    ['no typ (docs/spec.md#access-tokens does not require one)', header({ typ: undefined }), validClaims()],
    ['typ application/JWT', header({ typ: 'application/JWT' }), validClaims()],
    ['aud as the single string of this service', header(), validClaims({ aud: 'retirement' })],
  ])('accepts a token with %s', async (_name, tokenHeader, claims) => {
    expect((await withBearer(forgeToken(tokenHeader, claims, SECRET))).statusCode).toBe(200)
  })

  it('refuses every other base64url spelling of a valid token, in each segment, before and after it is cached', async () => {
    const token = forgeTokenWithSpareBits(header(), validClaims(), SECRET)
    const others = respellings(token)
    // Signature: 43 characters, 2 spare bits; header and payload padded to have some too.
    expect(
      new Set(others.map((other) => other.split('.').findIndex((part, i) => part !== token.split('.')[i]))),
    ).toEqual(new Set([0, 1, 2]))
    for (const other of others) expect((await withBearer(other)).statusCode).toBe(401)
    expect((await withBearer(token)).statusCode).toBe(200)
    for (const other of others) {
      expect((await withBearer(other)).statusCode).toBe(401)
      expect((await app.inject({ url: '/me', cookies: { access_token: other } })).statusCode).toBe(401)
    }
  })

  it('refuses a token typed as something other than a JWT access token', async () => {
    for (const typ of ['at+jwt', 'JWE', 42]) {
      expect((await withBearer(forgeToken(header({ typ }), validClaims(), SECRET))).statusCode).toBe(401)
    }
  })

  it('tolerates clock skew of 25 s in iat and nbf', async () => {
    const soon = Math.floor(Date.now() / 1000) + 25
    expect((await withBearer(forgeToken(header(), validClaims({ iat: soon, nbf: soon }), SECRET))).statusCode).toBe(200)
  })

  it('refuses a token it accepted before once it expires, past the same 30 s tolerance', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 60
    const token = forgeToken(header(), validClaims({ exp: expiresAt }), SECRET)
    expect((await withBearer(token)).statusCode).toBe(200) // verified in full, then remembered
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime((expiresAt + 25) * 1000)
    expect((await withBearer(token)).statusCode).toBe(200)
    expect((await app.inject({ url: '/me', cookies: { access_token: token } })).statusCode).toBe(200)
    vi.setSystemTime((expiresAt + 31) * 1000)
    expect((await withBearer(token)).statusCode).toBe(401)
    expect((await app.inject({ url: '/me', cookies: { access_token: token } })).statusCode).toBe(401)
  })

  it('gives each request the claims of its own token, however many tokens it has seen', async () => {
    const tokens = ['alice', 'bob', 'carol'].map((username) => forgeToken(header(), validClaims({ username }), SECRET))
    for (let round = 0; round < 2; round++) {
      for (const [i, username] of ['alice', 'bob', 'carol'].entries()) {
        expect((await withBearer(tokens[i] ?? '')).json().username).toBe(username)
      }
    }
  })

  it('refuses a token over 4 KiB before parsing it', async () => {
    const token = forgeToken(header(), validClaims({ padding: 'x'.repeat(MAX_TOKEN_BYTES) }), SECRET)
    const response = await withBearer(token)
    expect(response.statusCode).toBe(401)
    const viaCookie = await app.inject({ url: '/me', cookies: { access_token: token } })
    expect(viaCookie.statusCode).toBe(401)
  })

  it('lets pages ask without failing: null when the token is bad, the user when it is good', async () => {
    const bad = forgeToken(header(), validClaims(), OTHER_SECRET)
    expect((await app.inject({ url: '/maybe', cookies: { access_token: bad } })).json()).toEqual({ user: null })
    const good = forgeToken(header(), validClaims(), SECRET)
    expect((await app.inject({ url: '/maybe', cookies: { access_token: good } })).json().user.username).toBe('alice')
  })

  it('never echoes the token in an error', async () => {
    const token = forgeToken(header(), validClaims(), OTHER_SECRET)
    const response = await withBearer(token)
    expect(response.body).not.toContain(token.split('.')[1])
  })
})

describe('the refresh cookie', () => {
  async function bankWithCookies(cookies: { secure: boolean; domain?: string }) {
    const bank = Fastify()
    await bank.register(ssoAuth, {
      keyring: createKeyring(SECRET),
      audience: 'bank',
      cookies,
      issuing: { accessTokenTtlSeconds: 900 },
    })
    bank.post('/set', async (_request, reply) => reply.setRefreshTokenCookie('the-refresh-token', 3600).send({}))
    bank.get('/read', async (request) => ({ refreshToken: request.readRefreshTokenCookie() ?? null }))
    bank.post('/clear', async (_request, reply) => reply.clearLoginCookies().send({}))
    return bank
  }

  it('is refresh_token, host-only, when cookies are not Secure', async () => {
    const bank = await bankWithCookies({ secure: false, domain: 'example.com' })
    const set = await bank.inject({ method: 'POST', url: '/set' })
    expect(set.cookies).toEqual([
      expect.objectContaining({ name: 'refresh_token', value: 'the-refresh-token', httpOnly: true, path: '/' }),
    ])
    expect(set.cookies[0]?.domain).toBeUndefined()
    const read = await bank.inject({ url: '/read', cookies: { refresh_token: 'sent' } })
    expect(read.json()).toEqual({ refreshToken: 'sent' })
    await bank.close()
  })

  it('is __Host-refresh_token (Secure, Path=/, never a Domain) when cookies are Secure, set and cleared', async () => {
    const bank = await bankWithCookies({ secure: true, domain: 'example.com' })
    const set = await bank.inject({ method: 'POST', url: '/set' })
    expect(set.cookies).toEqual([
      expect.objectContaining({
        name: '__Host-refresh_token',
        value: 'the-refresh-token',
        secure: true,
        httpOnly: true,
        sameSite: 'Lax',
        path: '/',
        maxAge: 3600,
      }),
    ])
    expect(set.cookies[0]?.domain).toBeUndefined()
    const cleared = await bank.inject({ method: 'POST', url: '/clear' })
    const clearedRefresh = cleared.cookies.find((cookie) => cookie.name === '__Host-refresh_token')
    expect(clearedRefresh).toMatchObject({ value: '', secure: true, path: '/' })
    expect(clearedRefresh?.domain).toBeUndefined()
    await bank.close()
  })

  it('reads only __Host-refresh_token when cookies are Secure: a refresh_token planted from a sibling host is ignored', async () => {
    const bank = await bankWithCookies({ secure: true })
    const planted = await bank.inject({ url: '/read', cookies: { refresh_token: 'planted' } })
    expect(planted.json()).toEqual({ refreshToken: null })
    const both = await bank.inject({
      url: '/read',
      cookies: { refresh_token: 'planted', '__Host-refresh_token': 'own' },
    })
    expect(both.json()).toEqual({ refreshToken: 'own' })
    await bank.close()
  })
})
