import { BACKCHANNEL_LOGOUT_EVENT, createKeyring, verifyLogoutToken } from '@sso/shared'
import { decodeToken, injectInto, logIn, register } from '@sso/shared/testing'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import { bankMigrations } from '../db/migrations/index.js'
import {
  alice,
  bob,
  buildTestApp,
  cookiesOf,
  createLogoutReceiver,
  createTestConfig,
  databaseConfig,
  TEST_JWT_SECRET,
} from '../test-app.js'
import { MAX_RETRY_DELAY_MS, retryDelayMs } from './logout-delivery.js'

describeEachEngine('single-logout (bank)', (engine) => {
  const freshDatabase = async () => databaseConfig(await engine.createDatabase(bankMigrations))

  const RETIREMENT_URL = 'http://localhost:3001/backchannel/logout'
  const OTHER_URL = 'http://relying.example/backchannel/logout'

  let app: App
  let receiver: ReturnType<typeof createLogoutReceiver>
  let aliceId: string
  beforeEach(async () => {
    receiver = createLogoutReceiver()
    app = await buildTestApp({ ...(await freshDatabase()) }, { postLogoutToken: receiver.post })
    aliceId = await register(injectInto(app), alice)
  })
  afterEach(async () => {
    vi.useRealTimers()
    await app.close()
  })

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
  const me = (token: string) => app.inject({ url: '/api/me', headers: bearer(token) })

  /** Waits (bounded) until the receiver has `count` notices: delivery runs on the next turn after the revocation. */
  async function receivedNotices(count: number) {
    await vi.waitFor(() => expect(receiver.received.length).toBeGreaterThanOrEqual(count), { timeout: 3_000 })
    return receiver.received.map(({ url, logoutToken }) => ({
      url,
      ...decodeToken(logoutToken),
      notice: verifyLogoutToken(app.jwt, createKeyring(TEST_JWT_SECRET), 'retirement', logoutToken),
    }))
  }

  describe('logout notices', () => {
    it('on logout: the bank refuses the token at once and posts a logout token retirement can verify', async () => {
      const { accessToken, cookies } = await logIn(injectInto(app), alice)
      const sid = decodeToken(accessToken).claims.sid
      expect((await me(accessToken)).statusCode).toBe(200)
      expect((await app.inject({ method: 'POST', url: '/api/logout', cookies })).statusCode).toBe(204)
      expect((await me(accessToken)).statusCode).toBe(401)

      const [delivered] = await receivedNotices(1)
      expect(delivered?.url).toBe(RETIREMENT_URL)
      expect(delivered?.header).toMatchObject({ alg: 'HS256', typ: 'logout+jwt' })
      expect(delivered?.claims).toMatchObject({
        iss: 'bank',
        aud: ['retirement'],
        sid,
        sub: aliceId,
        events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
      })
      expect(delivered?.notice.sessionId).toBe(sid)
      // Delivered (2xx): nothing left to send, so no second notice however long we wait for the next tick.
      await new Promise((resolve) => setTimeout(resolve, 1_200))
      expect(receiver.received).toHaveLength(1)
    })

    it('sends one notice per configured back-channel URL', async () => {
      await app.close()
      app = await buildTestApp(
        { ...(await freshDatabase()), BACKCHANNEL_LOGOUT_URLS: [RETIREMENT_URL, OTHER_URL] },
        { postLogoutToken: receiver.post },
      )
      await register(injectInto(app), alice)
      const { cookies } = await logIn(injectInto(app), alice)
      await app.inject({ method: 'POST', url: '/api/logout', cookies })
      const notices = await receivedNotices(2)
      expect(notices.map((notice) => notice.url).sort()).toEqual([OTHER_URL, RETIREMENT_URL].sort())
    })

    it('on "log out everywhere": every session of the user ends, with a notice each; other users keep theirs', async () => {
      await register(injectInto(app), bob)
      const sessions = [
        await logIn(injectInto(app), alice),
        await logIn(injectInto(app), alice),
        await logIn(injectInto(app), alice),
      ]
      const bobs = await logIn(injectInto(app), bob)
      const response = await app.inject({
        method: 'POST',
        url: '/api/logout',
        headers: bearer(sessions[0]!.accessToken),
        payload: { everywhere: true },
      })
      expect(response.statusCode).toBe(204)
      for (const { accessToken } of sessions) expect((await me(accessToken)).statusCode).toBe(401)
      expect((await me(bobs.accessToken)).statusCode).toBe(200)

      const notices = await receivedNotices(3)
      expect(notices.map((notice) => notice.claims.sid).sort()).toEqual(
        sessions.map(({ accessToken }) => decodeToken(accessToken).claims.sid).sort(),
      )
      expect(notices.every((notice) => notice.claims.sub === aliceId)).toBe(true)
    })

    it('on refresh-token reuse: the session ends at the bank and a notice goes out', async () => {
      const { accessToken, cookies } = await logIn(injectInto(app), alice)
      const rotated = await app.inject({ method: 'POST', url: '/api/refresh', cookies })
      expect(rotated.statusCode).toBe(200)
      const successor = { refresh_token: cookiesOf(rotated).refresh_token ?? '' }
      expect((await app.inject({ method: 'POST', url: '/api/refresh', cookies: successor })).statusCode).toBe(200)
      // The first refresh token, two generations old (no parallel tab): theft detection revokes the session.
      expect((await app.inject({ method: 'POST', url: '/api/refresh', cookies })).statusCode).toBe(401)
      expect((await me(accessToken)).statusCode).toBe(401)
      expect((await me(rotated.json().data)).statusCode).toBe(401)
      const [delivered] = await receivedNotices(1)
      expect(delivered?.claims.sid).toBe(decodeToken(accessToken).claims.sid)
    })

    it('keeps a notice that got no 2xx and retries it with a fresh jti, deleting it once delivered', async () => {
      receiver.status = 503
      const { cookies } = await logIn(injectInto(app), alice)
      await app.inject({ method: 'POST', url: '/api/logout', cookies })
      await vi.waitFor(() => expect(receiver.received.length).toBeGreaterThanOrEqual(2), { timeout: 5_000 })
      receiver.status = 200
      const attemptsBefore = receiver.received.length
      await vi.waitFor(() => expect(receiver.received.length).toBeGreaterThan(attemptsBefore), { timeout: 5_000 })
      const delivered = receiver.received.length
      const jtis = receiver.received.map(({ logoutToken }) => decodeToken(logoutToken).claims.jti)
      expect(new Set(jtis).size).toBe(jtis.length)
      await new Promise((resolve) => setTimeout(resolve, 1_200))
      expect(receiver.received).toHaveLength(delivered)
    })

    it('gives a notice up once every access token of the session has expired anyway', async () => {
      receiver.status = 500
      const { cookies } = await logIn(injectInto(app), alice)
      await app.inject({ method: 'POST', url: '/api/logout', cookies })
      await receivedNotices(1)
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(Date.now() + (createTestConfig().ACCESS_TOKEN_TTL + 31) * 1000)
      const attempts = receiver.received.length
      await new Promise((resolve) => setTimeout(resolve, 1_300))
      vi.useRealTimers()
      await new Promise((resolve) => setTimeout(resolve, 1_300))
      expect(receiver.received).toHaveLength(attempts)
    })

    it('backs off exponentially, capped so a receiver that comes back hears within seconds', () => {
      expect([1, 2, 3, 4, 5, 10, 100].map(retryDelayMs)).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000])
      expect(MAX_RETRY_DELAY_MS).toBeLessThanOrEqual(5_000)
    })
  })

  describe('GET /api/sessions', () => {
    it("lists the user's live sessions with ISO times, user agent and which one is current", async () => {
      await register(injectInto(app), bob)
      const first = await logIn(injectInto(app), alice)
      const second = await app.inject({
        method: 'POST',
        url: '/api/login',
        payload: alice,
        headers: { 'user-agent': 'Second Browser/1.0' },
      })
      const secondToken = second.json().data as string
      await logIn(injectInto(app), bob)
      const ended = await logIn(injectInto(app), alice)
      await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(ended.accessToken) })

      const response = await app.inject({ url: '/api/sessions', headers: bearer(secondToken) })
      expect(response.statusCode).toBe(200)
      expect(response.headers['cache-control']).toBe('no-store')
      const { data } = response.json() as { data: Array<Record<string, unknown>> }
      expect(data.map((session) => session.id).sort()).toEqual(
        [decodeToken(first.accessToken).claims.sid, decodeToken(secondToken).claims.sid].sort(),
      )
      const current = data.find((session) => session.current)
      expect(current).toMatchObject({ id: decodeToken(secondToken).claims.sid, userAgent: 'Second Browser/1.0' })
      expect(data.filter((session) => session.current)).toHaveLength(1)
      for (const session of data) {
        expect(new Date(session.createdAt as string).toISOString()).toBe(session.createdAt)
        expect(new Date(session.lastUsedAt as string).toISOString()).toBe(session.lastUsedAt)
      }
    })

    it('needs a valid access token (401)', async () => {
      expect((await app.inject({ url: '/api/sessions' })).statusCode).toBe(401)
    })
  })

  describe('DELETE /api/sessions/:id', () => {
    it('ends that one session only, everywhere: 204, its tokens refused, a notice sent', async () => {
      const kept = await logIn(injectInto(app), alice)
      const other = await logIn(injectInto(app), alice)
      const otherSid = decodeToken(other.accessToken).claims.sid as string
      const response = await app.inject({
        method: 'DELETE',
        url: `/api/sessions/${otherSid}`,
        headers: bearer(kept.accessToken),
      })
      expect(response.statusCode).toBe(204)
      expect(response.cookies).toHaveLength(0)
      expect((await me(other.accessToken)).statusCode).toBe(401)
      expect((await me(kept.accessToken)).statusCode).toBe(200)
      expect((await app.inject({ method: 'POST', url: '/api/refresh', cookies: other.cookies })).statusCode).toBe(401)
      const [delivered] = await receivedNotices(1)
      expect(delivered?.claims.sid).toBe(otherSid)
    })

    it("answers 404 for an unknown id, an ended session and another user's session, and ends nothing", async () => {
      await register(injectInto(app), bob)
      const alices = await logIn(injectInto(app), alice)
      const bobs = await logIn(injectInto(app), bob)
      const ended = await logIn(injectInto(app), alice)
      await app.inject({ method: 'POST', url: '/api/logout', headers: bearer(ended.accessToken) })
      await receivedNotices(1)
      for (const id of [
        'no-such-session',
        decodeToken(bobs.accessToken).claims.sid,
        decodeToken(ended.accessToken).claims.sid,
      ]) {
        const response = await app.inject({
          method: 'DELETE',
          url: `/api/sessions/${id}`,
          headers: bearer(alices.accessToken),
        })
        expect(response.statusCode).toBe(404)
        expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_NOT_FOUND' })
      }
      expect((await me(bobs.accessToken)).statusCode).toBe(200)
      expect(receiver.received).toHaveLength(1)
    })

    it('deleting the current session is a logout: its cookies are cleared', async () => {
      const { accessToken, cookies } = await logIn(injectInto(app), alice)
      const response = await app.inject({
        method: 'DELETE',
        url: `/api/sessions/${decodeToken(accessToken).claims.sid}`,
        cookies,
      })
      expect(response.statusCode).toBe(204)
      expect(response.cookies.map((cookie) => [cookie.name, cookie.value])).toEqual(
        expect.arrayContaining([
          ['access_token', ''],
          ['refresh_token', ''],
        ]),
      )
    })

    it('refuses a cookie-authenticated DELETE from a foreign Origin (403), with no body needed', async () => {
      const { accessToken, cookies } = await logIn(injectInto(app), alice)
      const response = await app.inject({
        method: 'DELETE',
        url: `/api/sessions/${decodeToken(accessToken).claims.sid}`,
        cookies,
        headers: { origin: 'https://evil.example' },
      })
      expect(response.statusCode).toBe(403)
      expect((await me(accessToken)).statusCode).toBe(200)
      const allowed = await app.inject({
        method: 'DELETE',
        url: `/api/sessions/${decodeToken(accessToken).claims.sid}`,
        cookies,
        headers: { origin: createTestConfig().RETIREMENT_PUBLIC_URL },
      })
      expect(allowed.statusCode).toBe(204)
    })
  })
})
