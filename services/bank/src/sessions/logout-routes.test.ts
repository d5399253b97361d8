import { injectInto, logIn, register } from '@sso/shared/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { cutOffDatabase, reopenDatabase } from '../../../../e2e/support/postgres-outage.js'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import { bankMigrations } from '../db/migrations/index.js'
import { alice, buildTestApp, databaseConfig } from '../test-app.js'

describeEachEngine('logout-routes (bank)', (engine) => {
  const freshDatabase = async () => databaseConfig(await engine.createDatabase(bankMigrations))

  let app: App
  let database: Awaited<ReturnType<typeof freshDatabase>>
  beforeEach(async () => {
    database = await freshDatabase()
    app = await buildTestApp(database)
    await register(injectInto(app), alice)
  })
  afterEach(async () => {
    await app.close()
  })

  async function totalTokensRefused(): Promise<number> {
    const { values } = await app.metrics.tokensRefused.get()
    return values.reduce((sum, { value }) => sum + value, 0)
  }

  function refresh(cookies: Record<string, string>) {
    return app.inject({ method: 'POST', url: '/api/refresh', cookies })
  }

  describe('POST /api/logout', () => {
    // Declared for PostgreSQL only: a SQLite file cannot be cut off from a running process.
    if (engine.name === 'postgres')
      it('answers a 5xx, not 204, while the database does not answer, and revokes on the retry', async () => {
        const databaseUrl = database.DATABASE_URL ?? ''
        const { accessToken } = await logIn(injectInto(app), alice)
        const bearer = { authorization: `Bearer ${accessToken}` }
        const refusalsBefore = await totalTokensRefused()
        await cutOffDatabase(databaseUrl)
        try {
          for (const payload of [undefined, { everywhere: true }]) {
            const response = await app.inject({ method: 'POST', url: '/api/logout', headers: bearer, payload })
            expect(response.statusCode).toBeGreaterThanOrEqual(500)
            expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_INTERNAL' })
          }
        } finally {
          await reopenDatabase(databaseUrl)
        }
        // An outage is not a forged token: nothing was counted as refused.
        expect(await totalTokensRefused()).toBe(refusalsBefore)
        // Nothing was revoked, so the client's retry is what signs it out.
        expect((await app.inject({ url: '/api/me', headers: bearer })).statusCode).toBe(200)
        expect((await app.inject({ method: 'POST', url: '/api/logout', headers: bearer })).statusCode).toBe(204)
        expect((await app.inject({ url: '/api/me', headers: bearer })).statusCode).toBe(401)
      })

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
