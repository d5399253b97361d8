import { randomUUID } from 'node:crypto'
import { injectInto, logIn, register } from '@sso/shared/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import { bankMigrations } from '../db/migrations/index.js'
import { alice, buildTestApp, createTestConfig, databaseConfig } from '../test-app.js'

describeEachEngine('ended-sessions (bank)', (engine) => {
  const freshDatabase = async () => databaseConfig(await engine.createDatabase(bankMigrations))

  // The bank's own check of access tokens against its sessions table, and the hourly clean-up of that table, with
  // time compressed: fake Date and interval timers, so the clean-up runs when the test moves the clock.

  let app: App
  afterEach(async () => {
    await app.close()
    vi.useRealTimers()
  })

  const minuteMs = 60_000
  const me = (accessToken: string) =>
    app.inject({ url: '/api/me', headers: { authorization: `Bearer ${accessToken}` } })

  describe('ended sessions at the bank', () => {
    it('keeps refusing a logged-out session’s access token after the clean-up, until the token expires', async () => {
      vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] })
      // A session of 5 minutes, access tokens of 15: a token issued late outlives its session.
      app = await buildTestApp({ ...(await freshDatabase()), REFRESH_TOKEN_TTL: 5 * 60 })
      await register(injectInto(app), alice)
      vi.advanceTimersByTime(50 * minuteMs)
      const { accessToken } = await logIn(injectInto(app), alice)
      const logout = await app.inject({
        method: 'POST',
        url: '/api/logout',
        headers: { authorization: `Bearer ${accessToken}` },
      })
      expect(logout.statusCode).toBe(204)
      expect((await me(accessToken)).statusCode).toBe(401)

      // The hourly clean-up runs at minute 60: the session ended (logged out, and past its lifetime) before it, the
      // access token (issued at minute 50) is still within its 15 minutes.
      vi.advanceTimersByTime(11 * minuteMs)
      expect((await me(accessToken)).statusCode).toBe(401)
      vi.advanceTimersByTime(3 * minuteMs)
      expect((await me(accessToken)).statusCode).toBe(401)
    })

    it('never issues an access token past its session’s end, and refuses it once the session has ended', async () => {
      vi.useFakeTimers({ toFake: ['Date'] })
      // A session of 5 minutes, access tokens of 15: without the cap the token would outlive its session by 10.
      app = await buildTestApp({ ...(await freshDatabase()), REFRESH_TOKEN_TTL: 5 * 60 })
      await register(injectInto(app), alice)
      const login = await app.inject({ method: 'POST', url: '/api/login', payload: alice })
      const accessToken = login.json().data as string
      const claims = JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString())
      expect(claims.exp - claims.iat).toBeLessThanOrEqual(5 * 60)
      const cookie = login.cookies.find((candidate) => candidate.name === 'access_token')
      expect(cookie?.maxAge).toBeLessThanOrEqual(5 * 60)
      // Within the token's 30 s clock tolerance, but after the session's end: the bank's own check refuses it.
      vi.advanceTimersByTime(5 * minuteMs + 1_000)
      expect((await me(accessToken)).statusCode).toBe(401)
    })

    it('refuses a validly signed access token whose session the bank does not know', async () => {
      app = await buildTestApp(await freshDatabase())
      const userId = await register(injectInto(app), alice)
      const { accessToken } = await logIn(injectInto(app), alice)
      expect((await me(accessToken)).statusCode).toBe(200)
      const unknownSession = app.jwt.sign({ sub: userId, username: 'alice', sid: randomUUID() }, { jti: randomUUID() })
      const response = await me(unknownSession)
      expect(response.statusCode).toBe(401)
      expect(response.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
    })
  })
})
