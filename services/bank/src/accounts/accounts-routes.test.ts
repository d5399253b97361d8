import { injectInto, logIn, register } from '@sso/shared/testing'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import { bankMigrations } from '../db/migrations/index.js'
import { alice, bob, buildTestApp, createTestConfig, databaseConfig } from '../test-app.js'

describeEachEngine('accounts-routes (bank)', (engine) => {
  const freshDatabase = async () => databaseConfig(await engine.createDatabase(bankMigrations))

  let app: App
  beforeEach(async () => {
    app = await buildTestApp(await freshDatabase())
  })
  afterEach(async () => {
    vi.useRealTimers()
    await app.close()
  })

  describe('GET /api/accounts', () => {
    it("lists only the signed-in user's accounts", async () => {
      await register(injectInto(app), alice)
      await register(injectInto(app), bob)
      const { accessToken } = await logIn(injectInto(app), alice)
      const response = await app.inject({ url: '/api/accounts', headers: { authorization: `Bearer ${accessToken}` } })
      expect(response.statusCode).toBe(200)
      expect(response.json()).toEqual({
        status: 'ok',
        data: [{ id: expect.any(String), name: 'Checking', balanceCents: 0 }],
      })
    })

    it('reads the access token from the cookie when there is no Authorization header', async () => {
      await register(injectInto(app), alice)
      const { cookies } = await logIn(injectInto(app), alice)
      const response = await app.inject({ url: '/api/accounts', cookies: { access_token: cookies.access_token ?? '' } })
      expect(response.statusCode).toBe(200)
    })

    it('answers 401 with WWW-Authenticate without a token', async () => {
      const response = await app.inject({ url: '/api/accounts' })
      expect(response.statusCode).toBe(401)
      expect(response.headers['www-authenticate']).toBe('Bearer')
      expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_TOKEN_MISSING' })
    })

    it('answers 401 once the access token has expired', async () => {
      await register(injectInto(app), alice)
      const { accessToken } = await logIn(injectInto(app), alice)
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(Date.now() + (createTestConfig().ACCESS_TOKEN_TTL + 31) * 1000)
      const response = await app.inject({ url: '/api/accounts', headers: { authorization: `Bearer ${accessToken}` } })
      expect(response.statusCode).toBe(401)
      expect(response.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
    })
  })

  describe('GET /api/me', () => {
    it('answers the signed-in user', async () => {
      const id = await register(injectInto(app), alice)
      const { accessToken } = await logIn(injectInto(app), alice)
      const response = await app.inject({ url: '/api/me', headers: { authorization: `Bearer ${accessToken}` } })
      expect(response.json()).toEqual({ status: 'ok', data: { id, username: 'alice' } })
      expect(response.headers['cache-control']).toBe('no-store')
    })

    it('answers 401 to a tampered token', async () => {
      await register(injectInto(app), alice)
      const { accessToken } = await logIn(injectInto(app), alice)
      const [header, , signature] = accessToken.split('.')
      const forged = Buffer.from(JSON.stringify({ sub: 'someone-else', username: 'root' })).toString('base64url')
      const response = await app.inject({
        url: '/api/me',
        headers: { authorization: `Bearer ${header}.${forged}.${signature}` },
      })
      expect(response.statusCode).toBe(401)
    })
  })
})
