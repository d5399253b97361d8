import { forgeAccessToken } from '@sso/shared/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import { retirementMigrations } from '../db/migrations/index.js'
import { alice, bearer, buildTestApp, databaseConfig, TEST_BANK_URL, TEST_JWT_SECRET } from '../test-app.js'

describeEachEngine('retirement plans API', (engine) => {
  const freshDatabase = async () => databaseConfig(await engine.createDatabase(retirementMigrations))

  let app: App
  beforeEach(async () => {
    app = await buildTestApp(await freshDatabase())
  })
  afterEach(async () => {
    await app.close()
  })

  const bob = { id: '7d0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b', username: 'bob' }

  function contribute(token: string, body: unknown, headers: Record<string, string> = {}) {
    return app.inject({
      method: 'POST',
      url: '/api/plan/contributions',
      headers: { ...bearer(token), 'content-type': 'application/json', ...headers },
      payload: JSON.stringify(body),
    })
  }

  describe('GET /api/plan', () => {
    it('opens an empty plan on first use', async () => {
      const response = await app.inject({
        url: '/api/plan',
        headers: bearer(forgeAccessToken(alice, { secret: TEST_JWT_SECRET })),
      })
      expect(response.statusCode).toBe(200)
      expect(response.json()).toEqual({ status: 'ok', data: { balanceCents: 0, contributions: [] } })
    })

    it('sums the contributions into the balance and lists them newest first', async () => {
      const token = forgeAccessToken(alice, { secret: TEST_JWT_SECRET })
      const first = (await contribute(token, { amountCents: 1250 })).json().data
      const second = (await contribute(token, { amountCents: 100_000_000 })).json().data
      const response = await app.inject({ url: '/api/plan', headers: bearer(token) })
      expect(response.json().data).toEqual({ balanceCents: 100_001_250, contributions: [second, first] })
    })

    it("keeps each user's plan to themselves", async () => {
      await contribute(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }), { amountCents: 500 })
      const response = await app.inject({
        url: '/api/plan',
        headers: bearer(forgeAccessToken(bob, { secret: TEST_JWT_SECRET })),
      })
      expect(response.json().data).toEqual({ balanceCents: 0, contributions: [] })
    })

    it('answers 401 without a token', async () => {
      const response = await app.inject({ url: '/api/plan' })
      expect(response.statusCode).toBe(401)
      expect(response.headers['www-authenticate']).toBe('Bearer')
    })
  })

  describe('POST /api/plan/contributions', () => {
    it('saves a contribution and answers 201 with it', async () => {
      const response = await contribute(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }), { amountCents: 4200 })
      expect(response.statusCode).toBe(201)
      const { data } = response.json()
      expect(data).toEqual({ id: expect.any(String), amountCents: 4200, createdAt: expect.any(String) })
      expect(new Date(data.createdAt).toISOString()).toBe(data.createdAt)
    })

    it.each([
      ['zero', 0],
      ['a negative amount', -100],
      ['a fraction of a cent', 1.5],
      ['more than the maximum', 100_000_001],
      ['a string', '100'],
      ['null', null],
    ])('refuses %s with 400', async (_name, amountCents) => {
      const token = forgeAccessToken(alice, { secret: TEST_JWT_SECRET })
      const response = await contribute(token, { amountCents })
      expect(response.statusCode).toBe(400)
      expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_INVALID_INPUT' })
      const plan = await app.inject({ url: '/api/plan', headers: bearer(token) })
      expect(plan.json().data.balanceCents).toBe(0)
    })

    it('refuses a missing amount and unknown fields with 400', async () => {
      expect((await contribute(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }), {})).statusCode).toBe(400)
      expect(
        (await contribute(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }), { amountCents: 1, userId: bob.id }))
          .statusCode,
      ).toBe(400)
    })

    it('refuses a body that is not JSON with 415', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/api/plan/contributions',
        headers: { ...bearer(forgeAccessToken(alice, { secret: TEST_JWT_SECRET })), 'content-type': 'text/plain' },
        payload: '{"amountCents":100}',
      })
      expect(response.statusCode).toBe(415)
      expect(response.json().status).toBe('error')
    })

    it('refuses a cookie-authenticated write from a foreign Origin with 403', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/api/plan/contributions',
        headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
        cookies: { access_token: forgeAccessToken(alice, { secret: TEST_JWT_SECRET }) },
        payload: JSON.stringify({ amountCents: 100 }),
      })
      expect(response.statusCode).toBe(403)
      expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_CSRF_ORIGIN' })
    })

    it('accepts a cookie-authenticated write from the bank or retirement origin', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/api/plan/contributions',
        headers: { 'content-type': 'application/json', origin: TEST_BANK_URL },
        cookies: { access_token: forgeAccessToken(alice, { secret: TEST_JWT_SECRET }) },
        payload: JSON.stringify({ amountCents: 100 }),
      })
      expect(response.statusCode).toBe(201)
    })

    it('answers 413 for a body over 16 KiB', async () => {
      const response = await contribute(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }), {
        amountCents: 1,
        padding: 'x'.repeat(17 * 1024),
      })
      expect(response.statusCode).toBe(413)
    })

    it('answers 401 without a token and saves nothing', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/api/plan/contributions',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ amountCents: 100 }),
      })
      expect(response.statusCode).toBe(401)
      expect(response.headers['www-authenticate']).toBe('Bearer')
    })
  })
})
