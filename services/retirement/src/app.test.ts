import { deriveKeyId } from '@sso/shared'
import { forgeAccessToken } from '@sso/shared/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { describeEachEngine } from '../../../e2e/support/test-databases.js'
import type { App } from './app.js'
import { retirementMigrations } from './db/migrations/index.js'
import { alice, bearer, buildTestApp, databaseConfig, TEST_JWT_SECRET } from './test-app.js'

describeEachEngine('retirement app', (engine) => {
  const freshDatabase = async () => databaseConfig(await engine.createDatabase(retirementMigrations))

  let app: App
  afterEach(async () => {
    await app?.close()
  })

  const OTHER_SECRET = 'another-deployment-key-9c8b7a6f5e4d3c2b1a-zyxwvu'
  const nowSeconds = () => Math.floor(Date.now() / 1000)

  async function statusOf(token: string) {
    return (await app.inject({ url: '/api/me', headers: bearer(token) })).statusCode
  }

  describe('health and errors', () => {
    it('answers /healthz once the database is open', async () => {
      app = await buildTestApp(await freshDatabase())
      const response = await app.inject({ url: '/healthz' })
      expect(response.statusCode).toBe(200)
      expect(response.json()).toEqual({ status: 'ok' })
    })

    it('answers an unknown path with 404 in the error shape', async () => {
      app = await buildTestApp(await freshDatabase())
      const response = await app.inject({ url: '/api/nothing-here' })
      expect(response.statusCode).toBe(404)
      expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_NOT_FOUND' })
    })

    it('serves the shared stylesheet', async () => {
      app = await buildTestApp(await freshDatabase())
      const response = await app.inject({ url: '/assets/app.css' })
      expect(response.statusCode).toBe(200)
      expect(response.headers['content-type']).toMatch(/^text\/css/)
    })
  })

  describe('access token verification', () => {
    it('accepts a token the bank would issue', async () => {
      app = await buildTestApp(await freshDatabase())
      expect(await statusOf(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }))).toBe(200)
    })

    it('refuses a token signed with another secret', async () => {
      app = await buildTestApp(await freshDatabase())
      expect(await statusOf(forgeAccessToken(alice, { secret: OTHER_SECRET }))).toBe(401)
    })

    it('refuses a token signed with another secret under the current kid', async () => {
      app = await buildTestApp(await freshDatabase())
      const forged = forgeAccessToken(alice, {
        secret: OTHER_SECRET,
        header: { alg: 'HS256', typ: 'JWT', kid: deriveKeyId(TEST_JWT_SECRET) },
      })
      expect(await statusOf(forged)).toBe(401)
    })

    it('accepts a token signed with a secret listed in JWT_PREVIOUS_SECRETS', async () => {
      app = await buildTestApp({
        ...(await freshDatabase()),
        JWT_SECRET: OTHER_SECRET,
        JWT_PREVIOUS_SECRETS: [TEST_JWT_SECRET],
      })
      expect(await statusOf(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }))).toBe(200)
    })

    it.each<[string, Record<string, unknown>]>([
      ['no kid', { alg: 'HS256', typ: 'JWT' }],
      ['an unknown kid', { alg: 'HS256', typ: 'JWT', kid: 'no-such-key' }],
      ['alg none', { alg: 'none', typ: 'JWT', kid: 'k' }],
      ['alg HS512', { alg: 'HS512', typ: 'JWT', kid: 'k' }],
      ['typ logout+jwt', { alg: 'HS256', typ: 'logout+jwt', kid: 'k' }],
    ])('refuses a token with %s', async (_name, header) => {
      app = await buildTestApp(await freshDatabase())
      // 'k' stands for the right kid, so only the named flaw differs from a good token.
      const withKid = header.kid === 'k' ? { ...header, kid: deriveKeyId(TEST_JWT_SECRET) } : header
      expect(await statusOf(forgeAccessToken(alice, { secret: TEST_JWT_SECRET, header: withKid }))).toBe(401)
    })

    it.each([
      ['expired beyond the 30 s tolerance', { exp: nowSeconds() - 31 }],
      ['issued in the future beyond the tolerance', { iat: nowSeconds() + 120 }],
      ['not valid before a future nbf', { nbf: nowSeconds() + 120 }],
      ['from another issuer', { iss: 'retirement' }],
      ['for another audience', { aud: ['bank'] }],
      ['without exp', { exp: undefined }],
      ['without iat', { iat: undefined }],
      ['without sid', { sid: undefined }],
      ['without jti', { jti: undefined }],
      ['with a sub that is not a UUID', { sub: 'admin' }],
    ])('refuses a token %s', async (_name, claims) => {
      app = await buildTestApp(await freshDatabase())
      expect(await statusOf(forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims }))).toBe(401)
    })

    it('tolerates clocks that differ by a few seconds', async () => {
      app = await buildTestApp(await freshDatabase())
      expect(
        await statusOf(
          forgeAccessToken(alice, {
            secret: TEST_JWT_SECRET,
            claims: { exp: nowSeconds() - 5, iat: nowSeconds() + 5 },
          }),
        ),
      ).toBe(200)
    })

    it('refuses a token over 4 KiB without parsing it', async () => {
      app = await buildTestApp(await freshDatabase())
      const huge = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { padding: 'x'.repeat(4096) } })
      const response = await app.inject({ url: '/api/me', headers: bearer(huge) })
      expect(response.statusCode).toBe(401)
      expect(response.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
    })

    it('echoes neither the path of a 404 nor a malformed URL, where a client may have put a token', async () => {
      app = await buildTestApp(await freshDatabase())
      for (const url of ['/api/eyJhbGciOiJIUzI1NiJ9.secret-looking', '/api/%zzeyJhbGciOiJIUzI1NiJ9.secret-looking']) {
        const response = await app.inject({ url })
        expect([400, 404]).toContain(response.statusCode)
        expect(response.json()).toMatchObject({ status: 'error', error: expect.any(String) })
        expect(response.body).not.toContain('eyJ')
      }
    })
  })
})
