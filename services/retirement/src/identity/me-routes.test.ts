import { forgeAccessToken } from '@sso/shared/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import { retirementMigrations } from '../db/migrations/index.js'
import { alice, bearer, buildTestApp, databaseConfig, TEST_JWT_SECRET } from '../test-app.js'

describeEachEngine('retirement GET /api/me', (engine) => {
  const freshDatabase = async () => databaseConfig(await engine.createDatabase(retirementMigrations))

  let app: App
  beforeEach(async () => {
    app = await buildTestApp(await freshDatabase())
  })
  afterEach(async () => {
    await app.close()
  })

  const bob = { id: '7d0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b', username: 'bob' }

  describe('GET /api/me', () => {
    it('answers the user from the token alone', async () => {
      const response = await app.inject({
        url: '/api/me',
        headers: bearer(forgeAccessToken(alice, { secret: TEST_JWT_SECRET })),
      })
      expect(response.statusCode).toBe(200)
      expect(response.json()).toEqual({ status: 'ok', data: { id: alice.id, username: 'alice' } })
      expect(response.headers['cache-control']).toBe('no-store')
    })

    it('reads the access_token cookie when there is no Authorization header', async () => {
      const response = await app.inject({
        url: '/api/me',
        cookies: { access_token: forgeAccessToken(alice, { secret: TEST_JWT_SECRET }) },
      })
      expect(response.json().data.username).toBe('alice')
    })

    it('prefers the Bearer header over the cookie', async () => {
      const response = await app.inject({
        url: '/api/me',
        headers: bearer(forgeAccessToken(bob, { secret: TEST_JWT_SECRET })),
        cookies: { access_token: forgeAccessToken(alice, { secret: TEST_JWT_SECRET }) },
      })
      expect(response.json().data.username).toBe('bob')
    })

    it('answers 401 JSON with WWW-Authenticate: Bearer without a token', async () => {
      const response = await app.inject({ url: '/api/me' })
      expect(response.statusCode).toBe(401)
      expect(response.headers['www-authenticate']).toBe('Bearer')
      expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_TOKEN_MISSING' })
    })

    it('answers 401 with invalid_token for a token that fails verification', async () => {
      const response = await app.inject({ url: '/api/me', headers: bearer('not.a.jwt') })
      expect(response.statusCode).toBe(401)
      expect(response.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
      expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_TOKEN_INVALID' })
    })
  })
})
