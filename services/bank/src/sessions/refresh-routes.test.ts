import { decodeToken, injectInto, logIn, register } from '@sso/shared/testing'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import { bankMigrations } from '../db/migrations/index.js'
import { alice, buildTestApp, cookiesOf, createTestConfig, databaseConfig } from '../test-app.js'
import { REFRESHES_PER_ADDRESS, REFRESHES_PER_SESSION } from './refresh-limits.js'

describeEachEngine('refresh-routes (bank)', (engine) => {
  const freshDatabase = async () => databaseConfig(await engine.createDatabase(bankMigrations))

  let app: App
  beforeEach(async () => {
    app = await buildTestApp(await freshDatabase())
    await register(injectInto(app), alice)
  })
  afterEach(async () => {
    vi.useRealTimers()
    await app.close()
  })

  // `<sid>.<generation>.<256 random bits>.<MAC>`: see refresh-token.ts.
  const REFRESH_TOKEN_FORMAT = /^[0-9a-f-]{36}\.\d+\.[\w-]{43}\.[\w-]{22}$/

  function refresh(cookies: Record<string, string>) {
    return app.inject({ method: 'POST', url: '/api/refresh', cookies })
  }

  function withRefreshToken(refreshToken: string | undefined) {
    return { refresh_token: refreshToken ?? '' }
  }

  describe('POST /api/refresh', () => {
    it('does not charge grace replays to the session: thirty tabs at once, then the next refresh, all succeed', async () => {
      const { cookies } = await logIn(injectInto(app), alice)
      const tabs = await Promise.all(Array.from({ length: 30 }, () => refresh(withRefreshToken(cookies.refresh_token))))
      expect(tabs.map((response) => response.statusCode)).toEqual(Array(30).fill(200))
      const successors = new Set(tabs.map((response) => cookiesOf(response).refresh_token))
      expect(successors.size).toBe(1)
      const next = await refresh(withRefreshToken([...successors][0]))
      expect(next.statusCode).toBe(200)
    })

    it('answers 401, never a 5xx, to a refresh token of a well-formed shape whatever its numbers', async () => {
      const sessionId = (await logIn(injectInto(app), alice)).cookies.refresh_token?.split('.')[0] ?? ''
      const rest = `${'A'.repeat(43)}.${'B'.repeat(22)}`
      for (const generation of ['2147483647', '2147483648', '999999999999999', '4294967296']) {
        const response = await refresh(withRefreshToken(`${sessionId}.${generation}.${rest}`))
        expect(response.statusCode, generation).toBe(401)
        expect(response.json()).toMatchObject({ status: 'error' })
      }
    })

    it('answers a new access token for the same session and renews both cookies', async () => {
      const { accessToken, cookies } = await logIn(injectInto(app), alice)
      const response = await refresh(withRefreshToken(cookies.refresh_token))
      expect(response.statusCode).toBe(200)
      const renewed = cookiesOf(response)
      expect(renewed.access_token).toBe(response.json().data)
      expect(renewed.refresh_token).toMatch(REFRESH_TOKEN_FORMAT)
      expect(renewed.refresh_token).not.toBe(cookies.refresh_token)
      const before = decodeToken(accessToken).claims
      const after = decodeToken(response.json().data).claims
      expect(after).toMatchObject({ sub: before.sub, username: 'alice', sid: before.sid })
      expect(after.jti).not.toBe(before.jti)
    })

    it('rotates on every use: each new refresh token works once', async () => {
      let { refresh_token: refreshToken } = (await logIn(injectInto(app), alice)).cookies
      for (let round = 0; round < 3; round++) {
        const response = await refresh(withRefreshToken(refreshToken))
        expect(response.statusCode).toBe(200)
        refreshToken = cookiesOf(response).refresh_token
      }
    })

    it('revokes the whole session when the predecessor is presented again after the grace window, successor included', async () => {
      const first = (await logIn(injectInto(app), alice)).cookies.refresh_token
      const second = cookiesOf(await refresh(withRefreshToken(first))).refresh_token
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(Date.now() + (createTestConfig().REFRESH_REUSE_GRACE + 1) * 1000)
      // The stolen first token comes back too late for a parallel tab: both the thief's and the user's tokens stop working.
      const reuse = await refresh(withRefreshToken(first))
      expect(reuse.statusCode).toBe(401)
      expect(cookiesOf(reuse)).toMatchObject({ access_token: '', refresh_token: '' })
      expect((await refresh(withRefreshToken(second))).statusCode).toBe(401)
    })

    it('treats any token two or more generations old as reuse, even within the grace window', async () => {
      const first = (await logIn(injectInto(app), alice)).cookies.refresh_token
      const second = cookiesOf(await refresh(withRefreshToken(first))).refresh_token
      const third = cookiesOf(await refresh(withRefreshToken(second))).refresh_token
      expect((await refresh(withRefreshToken(first))).statusCode).toBe(401)
      expect((await refresh(withRefreshToken(third))).statusCode).toBe(401)
    })

    it('gives 20 parallel refreshes with one token the same successor and fresh access tokens; the session never forks', async () => {
      const { accessToken, cookies } = await logIn(injectInto(app), alice)
      const responses = await Promise.all(
        Array.from({ length: 20 }, () => refresh(withRefreshToken(cookies.refresh_token))),
      )
      expect(responses.map((response) => response.statusCode)).toEqual(Array(20).fill(200))
      const successors = new Set(responses.map((response) => cookiesOf(response).refresh_token))
      expect(successors.size).toBe(1)
      const [successor] = [...successors]
      expect(successor).not.toBe(cookies.refresh_token)
      const accessTokens = responses.map((response) => response.json().data as string)
      expect(new Set(accessTokens.map((token) => decodeToken(token).claims.jti)).size).toBe(20)
      const sid = decodeToken(accessToken).claims.sid
      expect(accessTokens.every((token) => decodeToken(token).claims.sid === sid)).toBe(true)

      // Still one live session, and every token handed out works.
      const listed = await app.inject({
        url: '/api/sessions',
        headers: { authorization: `Bearer ${accessTokens[19]}` },
      })
      expect(listed.json().data.map((session: { id: string }) => session.id)).toEqual([sid])
      for (const token of accessTokens) {
        expect((await app.inject({ url: '/api/me', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(
          200,
        )
      }
      expect((await refresh(withRefreshToken(successor))).statusCode).toBe(200)
    })

    it('gives the predecessor, presented again within REFRESH_REUSE_GRACE, the same successor and a new access token', async () => {
      const first = (await logIn(injectInto(app), alice)).cookies.refresh_token
      const rotated = await refresh(withRefreshToken(first))
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(Date.now() + (createTestConfig().REFRESH_REUSE_GRACE - 1) * 1000)
      const again = await refresh(withRefreshToken(first))
      expect(again.statusCode).toBe(200)
      expect(cookiesOf(again).refresh_token).toBe(cookiesOf(rotated).refresh_token)
      expect(again.json().data).not.toBe(rotated.json().data)
      expect((await refresh(withRefreshToken(cookiesOf(again).refresh_token))).statusCode).toBe(200)
    })

    it('has no grace with REFRESH_REUSE_GRACE=0: the predecessor presented again at once revokes the session', async () => {
      await app.close()
      app = await buildTestApp({ ...(await freshDatabase()), REFRESH_REUSE_GRACE: 0 })
      await register(injectInto(app), alice)
      const first = (await logIn(injectInto(app), alice)).cookies.refresh_token
      const second = cookiesOf(await refresh(withRefreshToken(first))).refresh_token
      expect((await refresh(withRefreshToken(first))).statusCode).toBe(401)
      expect((await refresh(withRefreshToken(second))).statusCode).toBe(401)
    })

    it('refuses an invented token naming a real session and an old generation, without revoking the session', async () => {
      const { accessToken, cookies } = await logIn(injectInto(app), alice)
      const current = cookiesOf(await refresh(withRefreshToken(cookies.refresh_token))).refresh_token ?? ''
      const sid = String(decodeToken(accessToken).claims.sid)
      // Whoever learns a session id (it is in every access token) must not be able to end that session.
      for (const invented of [
        `${sid}.0.${'A'.repeat(43)}.${'A'.repeat(22)}`,
        current.replace(/\.1\./, '.0.'),
        `${current.slice(0, -1)}${current.endsWith('A') ? 'B' : 'A'}`,
      ]) {
        expect((await refresh(withRefreshToken(invented))).statusCode).toBe(401)
      }
      expect((await refresh(withRefreshToken(current))).statusCode).toBe(200)
    })

    it('does not touch other sessions of the same user when one is revoked for reuse', async () => {
      const stolen = (await logIn(injectInto(app), alice)).cookies.refresh_token
      const other = (await logIn(injectInto(app), alice)).cookies.refresh_token
      await refresh(withRefreshToken(stolen))
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(Date.now() + (createTestConfig().REFRESH_REUSE_GRACE + 1) * 1000)
      expect((await refresh(withRefreshToken(stolen))).statusCode).toBe(401)
      expect((await refresh(withRefreshToken(other))).statusCode).toBe(200)
    })

    it('stops a refresh loop of one session with 429 and Retry-After, and leaves other sessions alone', async () => {
      let { refresh_token: refreshToken } = (await logIn(injectInto(app), alice)).cookies
      const other = (await logIn(injectInto(app), alice)).cookies
      let limited: Awaited<ReturnType<typeof refresh>> | undefined
      for (let round = 0; round < REFRESHES_PER_SESSION.max + 5 && !limited; round++) {
        const response = await refresh(withRefreshToken(refreshToken))
        if (response.statusCode === 429) limited = response
        else refreshToken = cookiesOf(response).refresh_token
      }
      expect(limited?.json()).toMatchObject({ status: 'error', code: 'SSO_RATE_LIMITED' })
      expect(Number(limited?.headers['retry-after'])).toBeGreaterThan(0)
      expect((await refresh(withRefreshToken(other.refresh_token))).statusCode).toBe(200)
    })

    it('limits refreshes per address whatever token they carry', async () => {
      const statuses = []
      for (let round = 0; round < REFRESHES_PER_ADDRESS.max + 1; round++) {
        statuses.push((await refresh(withRefreshToken(`${'A'.repeat(42)}${round % 10}`))).statusCode)
      }
      expect(statuses.slice(0, REFRESHES_PER_ADDRESS.max)).toEqual(Array(REFRESHES_PER_ADDRESS.max).fill(401))
      expect(statuses.at(-1)).toBe(429)
    })

    it('counts an IPv6 client by its /64 and an IPv4-mapped address as the IPv4 one', async () => {
      const refreshFrom = async (remoteAddress: string) =>
        (
          await app.inject({
            method: 'POST',
            url: '/api/refresh',
            cookies: withRefreshToken('A'.repeat(43)),
            remoteAddress,
          })
        ).statusCode
      const statuses = []
      // A host picks any address of its /64 at will: every one of them spends the same budget.
      for (let round = 0; round < REFRESHES_PER_ADDRESS.max; round++) {
        statuses.push(await refreshFrom(`2001:db8:1:2:${(round + 1).toString(16)}::${round % 7}`))
      }
      expect(statuses).toEqual(Array(REFRESHES_PER_ADDRESS.max).fill(401))
      expect(await refreshFrom('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe(429)
      expect(await refreshFrom('2001:db8:1:3::1')).toBe(401)

      for (let round = 0; round < REFRESHES_PER_ADDRESS.max; round++) {
        await refreshFrom(round % 2 === 0 ? '192.0.2.7' : '::ffff:192.0.2.7')
      }
      expect(await refreshFrom('::ffff:192.0.2.7')).toBe(429)
      expect(await refreshFrom('192.0.2.7')).toBe(429)
    })

    it('does not let an invented token spend the budget of the session it names', async () => {
      const { accessToken, cookies } = await logIn(injectInto(app), alice)
      const sid = String(decodeToken(accessToken).claims.sid)
      for (let round = 0; round < REFRESHES_PER_SESSION.max + 1; round++) {
        await refresh(withRefreshToken(`${sid}.0.${'A'.repeat(43)}.${'A'.repeat(22)}`))
      }
      expect((await refresh(withRefreshToken(cookies.refresh_token))).statusCode).toBe(200)
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
      let { refresh_token: refreshToken } = (await logIn(injectInto(app), alice)).cookies
      const loginTime = Date.now()
      vi.useFakeTimers({ toFake: ['Date'] })
      // Rotate every day for the whole lifetime: still no extension.
      const dayMs = 24 * 60 * 60_000
      for (let day = 1; day * dayMs < createTestConfig().REFRESH_TOKEN_TTL * 1000; day++) {
        vi.setSystemTime(loginTime + day * dayMs)
        const response = await refresh(withRefreshToken(refreshToken))
        expect(response.statusCode).toBe(200)
        const cookie = response.cookies.find((candidate) => candidate.name === 'refresh_token')
        // The cookie's lifetime shrinks with the session's remaining time.
        expect(cookie?.maxAge).toBeLessThanOrEqual(createTestConfig().REFRESH_TOKEN_TTL - (day * dayMs) / 1000)
        refreshToken = cookie?.value
      }
      vi.setSystemTime(loginTime + createTestConfig().REFRESH_TOKEN_TTL * 1000 + 1000)
      expect((await refresh(withRefreshToken(refreshToken))).statusCode).toBe(401)
    })
  })
})
