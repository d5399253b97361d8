import { forgeAccessToken } from '@sso/shared/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { describeEachEngine, type TestDatabaseSettings } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import { retirementMigrations } from '../db/migrations/index.js'
import {
  alice,
  bearer,
  buildTestApp,
  databaseConfig,
  seedContributions,
  TEST_BANK_URL,
  TEST_JWT_SECRET,
} from '../test-app.js'

describeEachEngine('retirement plans API', (engine) => {
  let database: TestDatabaseSettings
  let app: App
  const replicas: App[] = []
  beforeEach(async () => {
    database = await engine.createDatabase(retirementMigrations)
    app = await buildTestApp(databaseConfig(database))
  })
  afterEach(async () => {
    await Promise.all([app, ...replicas.splice(0)].map((each) => each.close()))
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
      expect(response.json()).toEqual({ status: 'ok', data: { balanceCents: 0, contributions: [], more: false } })
    })

    it('sums the contributions into the balance and lists them newest first', async () => {
      const token = forgeAccessToken(alice, { secret: TEST_JWT_SECRET })
      const first = (await contribute(token, { amountCents: 1250 })).json().data
      const second = (await contribute(token, { amountCents: 100_000_000 })).json().data
      const response = await app.inject({ url: '/api/plan', headers: bearer(token) })
      expect(response.json().data).toEqual({ balanceCents: 100_001_250, contributions: [second, first], more: false })
    })

    it("keeps each user's plan to themselves", async () => {
      await contribute(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }), { amountCents: 500 })
      const response = await app.inject({
        url: '/api/plan',
        headers: bearer(forgeAccessToken(bob, { secret: TEST_JWT_SECRET })),
      })
      expect(response.json().data).toEqual({ balanceCents: 0, contributions: [], more: false })
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
  describe('GET /api/plan/contributions?before=', () => {
    const page = (token: string, query: string) =>
      app.inject({ url: `/api/plan/contributions${query}`, headers: bearer(token) })

    it('lists the newest 100 in the plan, sums them all, and pages through the rest to the first', async () => {
      const seeded = await seedContributions(database, alice.id, 250)
      const token = forgeAccessToken(alice, { secret: TEST_JWT_SECRET })
      const plan = (await app.inject({ url: '/api/plan', headers: bearer(token) })).json().data
      expect(plan.contributions).toHaveLength(100)
      expect(plan.more).toBe(true)
      expect(plan.balanceCents).toBe((250 * 251) / 2)

      const listed: string[] = plan.contributions.map((contribution: { id: string }) => contribution.id)
      let more = plan.more
      let pages = 0
      while (more) {
        const response = await page(token, `?before=${listed.at(-1)}`)
        expect(response.statusCode).toBe(200)
        const data = response.json().data
        expect(Object.keys(data).sort()).toEqual(['contributions', 'more'])
        expect(data.contributions.length).toBeLessThanOrEqual(100)
        listed.push(...data.contributions.map((contribution: { id: string }) => contribution.id))
        more = data.more
        pages++
      }
      expect(pages).toBe(2)
      expect(listed).toEqual(seeded.reverse())
    })

    it('answers an empty page, with more: false, before the first contribution', async () => {
      const [first] = await seedContributions(database, alice.id, 3)
      const response = await page(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }), `?before=${first}`)
      expect(response.json()).toEqual({ status: 'ok', data: { contributions: [], more: false } })
    })

    it("answers 404 for an id that is another user's or no one's, so ids cannot be probed", async () => {
      const [bobs] = await seedContributions(database, bob.id, 1)
      const token = forgeAccessToken(alice, { secret: TEST_JWT_SECRET })
      for (const id of [bobs, '00000000-0000-4000-8000-000000000000']) {
        const response = await page(token, `?before=${id}`)
        expect(response.statusCode).toBe(404)
        expect(response.json()).toEqual({
          status: 'error',
          error: 'No such contribution in your plan',
          code: 'SSO_NOT_FOUND',
        })
      }
    })

    it.each([
      ['no before', ''],
      ['a before that is not an id', '?before=1%27%20or%201%3D1'],
      ['an empty before', '?before='],
      ['an unknown parameter', `?before=00000000-0000-4000-8000-000000000000&limit=1000`],
    ])('answers 400 for %s', async (_name, query) => {
      const response = await page(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }), query)
      expect(response.statusCode).toBe(400)
      expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_INVALID_INPUT' })
    })

    it('answers 401 without a token', async () => {
      const response = await app.inject({ url: '/api/plan/contributions?before=00000000-0000-4000-8000-000000000000' })
      expect(response.statusCode).toBe(401)
    })

    it('keeps the plan answer to the newest 100 however many there are', async () => {
      await seedContributions(database, alice.id, 3000)
      const response = await app.inject({
        url: '/api/plan',
        headers: bearer(forgeAccessToken(alice, { secret: TEST_JWT_SECRET })),
      })
      expect(response.json().data.contributions).toHaveLength(100)
      // 100 contributions of about 100 bytes each: the answer no longer grows with the plan (it was 319 KiB).
      expect(response.body.length).toBeLessThan(12 * 1024)
    })
  })

  describe('the per-user limit: 30 contributions a minute', () => {
    it('answers the 31st with 429, Retry-After and the error shape, and stores nothing of it', async () => {
      const token = forgeAccessToken(alice, { secret: TEST_JWT_SECRET })
      for (let index = 0; index < 30; index++)
        expect((await contribute(token, { amountCents: 1 })).statusCode).toBe(201)
      const refused = await contribute(token, { amountCents: 500 })
      expect(refused.statusCode).toBe(429)
      const retryAfterSeconds = Number(refused.headers['retry-after'])
      expect(retryAfterSeconds).toBeGreaterThanOrEqual(1)
      expect(retryAfterSeconds).toBeLessThanOrEqual(60)
      expect(refused.json()).toEqual({
        status: 'error',
        error: `Too many attempts; try again in ${retryAfterSeconds} seconds`,
        code: 'SSO_RATE_LIMITED',
      })
      const plan = (await app.inject({ url: '/api/plan', headers: bearer(token) })).json().data
      expect(plan.balanceCents).toBe(30)
      expect(plan.contributions).toHaveLength(30)
    })

    it('lets exactly 30 of 45 parallel requests through', async () => {
      const token = forgeAccessToken(alice, { secret: TEST_JWT_SECRET })
      const responses = await Promise.all(Array.from({ length: 45 }, () => contribute(token, { amountCents: 1 })))
      const statuses = responses.map((response) => response.statusCode)
      expect(statuses.filter((status) => status === 201)).toHaveLength(30)
      expect(statuses.filter((status) => status === 429)).toHaveLength(15)
      expect((await app.inject({ url: '/api/plan', headers: bearer(token) })).json().data.balanceCents).toBe(30)
    })

    // Declared for PostgreSQL only: replicas share a database server; a SQLite file is one process's.
    if (engine.name === 'postgres')
      it('counts the requests of every replica together, even in parallel', async () => {
        const others = [await buildTestApp(databaseConfig(database)), await buildTestApp(databaseConfig(database))]
        replicas.push(...others)
        const token = forgeAccessToken(alice, { secret: TEST_JWT_SECRET })
        const responses = await Promise.all(
          Array.from({ length: 45 }, (_, index) =>
            [app, ...others][index % 3]!.inject({
              method: 'POST',
              url: '/api/plan/contributions',
              headers: { ...bearer(token), 'content-type': 'application/json' },
              payload: JSON.stringify({ amountCents: 1 }),
            }),
          ),
        )
        expect(responses.filter((response) => response.statusCode === 201)).toHaveLength(30)
        expect(responses.filter((response) => response.statusCode === 429)).toHaveLength(15)
        const plan = await others[1]!.inject({ url: '/api/plan', headers: bearer(token) })
        expect(plan.json().data.balanceCents).toBe(30)
      })

    it('limits each user on their own', async () => {
      const aliceToken = forgeAccessToken(alice, { secret: TEST_JWT_SECRET })
      for (let index = 0; index < 30; index++) await contribute(aliceToken, { amountCents: 1 })
      expect((await contribute(aliceToken, { amountCents: 1 })).statusCode).toBe(429)
      expect(
        (await contribute(forgeAccessToken(bob, { secret: TEST_JWT_SECRET }), { amountCents: 1 })).statusCode,
      ).toBe(201)
    })
  })
})
