import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { App } from '../app.js'
import { alice, buildTestApp, cookiesOf, decodeJwt, logIn, signUp, testConfig } from '../test-app.js'

let app: App
beforeEach(async () => {
  app = await buildTestApp()
  await signUp(app, alice)
})
afterEach(async () => {
  vi.useRealTimers()
  await app.close()
})

function refresh(cookies: Record<string, string>) {
  return app.inject({ method: 'POST', url: '/api/refresh', cookies })
}

function withRefreshToken(refreshToken: string | undefined) {
  return { refresh_token: refreshToken ?? '' }
}

describe('POST /api/refresh', () => {
  it('answers a new access token for the same session and renews both cookies', async () => {
    const { accessToken, cookies } = await logIn(app, alice)
    const response = await refresh(withRefreshToken(cookies.refresh_token))
    expect(response.statusCode).toBe(200)
    const renewed = cookiesOf(response)
    expect(renewed.access_token).toBe(response.json().data)
    expect(renewed.refresh_token).toMatch(/^[\w-]{43}$/)
    expect(renewed.refresh_token).not.toBe(cookies.refresh_token)
    const before = decodeJwt(accessToken).claims
    const after = decodeJwt(response.json().data).claims
    expect(after).toMatchObject({ sub: before.sub, username: 'alice', sid: before.sid })
    expect(after.jti).not.toBe(before.jti)
  })

  it('rotates on every use: each new refresh token works once', async () => {
    let { refresh_token: refreshToken } = (await logIn(app, alice)).cookies
    for (let round = 0; round < 3; round++) {
      const response = await refresh(withRefreshToken(refreshToken))
      expect(response.statusCode).toBe(200)
      refreshToken = cookiesOf(response).refresh_token
    }
  })

  it('revokes the whole session when an already-rotated token is presented again, successor included', async () => {
    const first = (await logIn(app, alice)).cookies.refresh_token
    const second = cookiesOf(await refresh(withRefreshToken(first))).refresh_token
    // The stolen first token comes back: both the thief's and the user's tokens stop working.
    const reuse = await refresh(withRefreshToken(first))
    expect(reuse.statusCode).toBe(401)
    expect(cookiesOf(reuse)).toMatchObject({ access_token: '', refresh_token: '' })
    expect((await refresh(withRefreshToken(second))).statusCode).toBe(401)
  })

  it('treats any earlier token of the session as reuse, not just the last one', async () => {
    const first = (await logIn(app, alice)).cookies.refresh_token
    const second = cookiesOf(await refresh(withRefreshToken(first))).refresh_token
    const third = cookiesOf(await refresh(withRefreshToken(second))).refresh_token
    expect((await refresh(withRefreshToken(first))).statusCode).toBe(401)
    expect((await refresh(withRefreshToken(third))).statusCode).toBe(401)
  })

  it('lets exactly one of two parallel refreshes with the same token win', async () => {
    const { refresh_token: refreshToken } = (await logIn(app, alice)).cookies
    const statuses = (
      await Promise.all([refresh(withRefreshToken(refreshToken)), refresh(withRefreshToken(refreshToken))])
    )
      .map((response) => response.statusCode)
      .sort()
    expect(statuses).toEqual([200, 401])
  })

  it('does not touch other sessions of the same user when one is revoked for reuse', async () => {
    const stolen = (await logIn(app, alice)).cookies.refresh_token
    const other = (await logIn(app, alice)).cookies.refresh_token
    await refresh(withRefreshToken(stolen))
    await refresh(withRefreshToken(stolen))
    expect((await refresh(withRefreshToken(other))).statusCode).toBe(200)
  })

  it.each([
    ['no cookie', {}],
    ['an empty cookie', { refresh_token: '' }],
    ['an unknown token', { refresh_token: 'A'.repeat(43) }],
    ['a malformed token', { refresh_token: 'not a token' }],
  ])('answers 401 for %s', async (_case, cookies) => {
    const response = await refresh(cookies)
    expect(response.statusCode).toBe(401)
    expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_REFRESH_INVALID' })
  })

  it('ends a session REFRESH_TOKEN_TTL after login however often it was rotated', async () => {
    let { refresh_token: refreshToken } = (await logIn(app, alice)).cookies
    const loginTime = Date.now()
    vi.useFakeTimers({ toFake: ['Date'] })
    // Rotate every day for the whole lifetime: still no extension.
    const dayMs = 24 * 60 * 60_000
    for (let day = 1; day * dayMs < testConfig.REFRESH_TOKEN_TTL * 1000; day++) {
      vi.setSystemTime(loginTime + day * dayMs)
      const response = await refresh(withRefreshToken(refreshToken))
      expect(response.statusCode).toBe(200)
      const cookie = response.cookies.find((candidate) => candidate.name === 'refresh_token')
      // The cookie's lifetime shrinks with the session's remaining time.
      expect(cookie?.maxAge).toBeLessThanOrEqual(testConfig.REFRESH_TOKEN_TTL - (day * dayMs) / 1000)
      refreshToken = cookie?.value
    }
    vi.setSystemTime(loginTime + testConfig.REFRESH_TOKEN_TTL * 1000 + 1000)
    expect((await refresh(withRefreshToken(refreshToken))).statusCode).toBe(401)
  })
})

describe('POST /api/logout', () => {
  it('answers 204, clears both cookies and revokes the session', async () => {
    const { cookies } = await logIn(app, alice)
    const response = await app.inject({ method: 'POST', url: '/api/logout', cookies })
    expect(response.statusCode).toBe(204)
    expect(response.body).toBe('')
    for (const name of ['access_token', 'refresh_token']) {
      const cleared = response.cookies.find((cookie) => cookie.name === name)
      expect(cleared).toMatchObject({ value: '', path: '/' })
      expect(cleared?.expires?.getTime()).toBeLessThanOrEqual(Date.now())
    }
    expect((await refresh(cookies)).statusCode).toBe(401)
  })

  it('revokes the session of a Bearer token for clients without a refresh cookie', async () => {
    const { accessToken, cookies } = await logIn(app, alice)
    const response = await app.inject({
      method: 'POST',
      url: '/api/logout',
      headers: { authorization: `Bearer ${accessToken}` },
    })
    expect(response.statusCode).toBe(204)
    expect((await refresh(cookies)).statusCode).toBe(401)
  })

  it('answers 204 even without a session: logging out twice is fine', async () => {
    expect((await app.inject({ method: 'POST', url: '/api/logout' })).statusCode).toBe(204)
  })

  it('refuses the access token of the logged-out session at once (single logout), with WWW-Authenticate', async () => {
    const { accessToken, cookies } = await logIn(app, alice)
    await app.inject({ method: 'POST', url: '/api/logout', cookies })
    const me = await app.inject({ url: '/api/me', headers: { authorization: `Bearer ${accessToken}` } })
    expect(me.statusCode).toBe(401)
    expect(me.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
  })

  it('refuses a body other than {"everywhere": boolean} with 400', async () => {
    const { accessToken } = await logIn(app, alice)
    for (const payload of [{ everywhere: 'yes' }, { everywhere: true, extra: 1 }, []]) {
      const response = await app.inject({
        method: 'POST',
        url: '/api/logout',
        headers: { authorization: `Bearer ${accessToken}` },
        payload,
      })
      expect(response.statusCode).toBe(400)
    }
  })

  it('refuses a cookie-authenticated logout from a foreign Origin with 403', async () => {
    const { cookies } = await logIn(app, alice)
    const response = await app.inject({
      method: 'POST',
      url: '/api/logout',
      cookies,
      headers: { origin: 'https://evil.example' },
    })
    expect(response.statusCode).toBe(403)
    expect((await refresh(cookies)).statusCode).toBe(200)
  })
})
