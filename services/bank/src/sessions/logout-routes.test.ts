import { injectInto, logIn, register } from '@sso/shared/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import { bankMigrations } from '../db/migrations/index.js'
import { alice, buildTestApp, databaseConfig } from '../test-app.js'

describeEachEngine('logout-routes (bank)', (engine) => {
  const freshDatabase = async () => databaseConfig(await engine.createDatabase(bankMigrations))

  let app: App
  beforeEach(async () => {
    app = await buildTestApp(await freshDatabase())
    await register(injectInto(app), alice)
  })
  afterEach(async () => {
    await app.close()
  })

  function refresh(cookies: Record<string, string>) {
    return app.inject({ method: 'POST', url: '/api/refresh', cookies })
  }

  describe('POST /api/logout', () => {
    it('answers 204, clears both cookies and revokes the session', async () => {
      const { cookies } = await logIn(injectInto(app), alice)
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
      const { accessToken, cookies } = await logIn(injectInto(app), alice)
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
      const { accessToken, cookies } = await logIn(injectInto(app), alice)
      await app.inject({ method: 'POST', url: '/api/logout', cookies })
      const me = await app.inject({ url: '/api/me', headers: { authorization: `Bearer ${accessToken}` } })
      expect(me.statusCode).toBe(401)
      expect(me.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
    })

    it('refuses a body other than {"everywhere": boolean} with 400', async () => {
      const { accessToken } = await logIn(injectInto(app), alice)
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
      const { cookies } = await logIn(injectInto(app), alice)
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
})
