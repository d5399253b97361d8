import { forgeAccessToken } from '@sso/shared/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
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
  TEST_RETIREMENT_URL,
} from '../test-app.js'

describeEachEngine('retirement pages', (engine) => {
  const freshDatabase = async () => databaseConfig(await engine.createDatabase(retirementMigrations))

  let app: App
  let database: Awaited<ReturnType<typeof freshDatabase>>
  beforeEach(async () => {
    database = await freshDatabase()
    app = await buildTestApp(database)
  })
  afterEach(async () => {
    await app.close()
  })

  const loginRedirect = `${TEST_BANK_URL}/login?return_to=${encodeURIComponent(`${TEST_RETIREMENT_URL}/`)}`

  /** Opens the plan page as a browser would and returns what its form needs to post back. */
  async function openPlanPage(accessToken: string) {
    const response = await app.inject({ url: '/', cookies: { access_token: accessToken } })
    const csrfCookie = response.cookies.find((cookie) => cookie.name === 'retirement_csrf')
    const csrfToken = /name="_csrf" value="([^"]+)"/.exec(response.body)?.[1]
    expect(csrfCookie).toBeDefined()
    expect(csrfToken).toBeDefined()
    return {
      response,
      cookies: { access_token: accessToken, retirement_csrf: csrfCookie!.value },
      csrfToken: csrfToken!,
    }
  }

  function postForm(cookies: Record<string, string>, fields: Record<string, string>) {
    return app.inject({
      method: 'POST',
      url: '/contributions',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      cookies,
      payload: new URLSearchParams(fields).toString(),
    })
  }

  describe('GET /', () => {
    it('greets the signed-in user by name and shows the balance and a contribution form', async () => {
      const { response } = await openPlanPage(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }))
      expect(response.statusCode).toBe(200)
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(response.body).toContain('Hello, <strong>alice</strong>')
      expect(response.body).toContain('<strong id="balance">$0.00</strong>')
      expect(response.body).toContain('<form method="post" action="/contributions">')
      expect(response.body).toContain(`href="${TEST_BANK_URL}/"`)
    })

    it('offers "Sign out": a link to the bank\'s confirm page, which comes back here if the user stays', async () => {
      const { response } = await openPlanPage(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }))
      const signOut = `${TEST_BANK_URL}/logout?return_to=${encodeURIComponent(`${TEST_RETIREMENT_URL}/`)}`
      expect(response.body).toContain(`<a id="sign-out" href="${signOut.replace(/&/g, '&amp;')}">Sign out</a>`)
    })

    it('escapes the username from the token', async () => {
      const token = forgeAccessToken(
        { id: alice.id, username: '<script>alert(1)</script>' },
        { secret: TEST_JWT_SECRET },
      )
      const { response } = await openPlanPage(token)
      expect(response.body).not.toContain('<script>')
      expect(response.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    })

    it('sends the security headers of an HTML page', async () => {
      const { response } = await openPlanPage(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }))
      expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'")
      expect(response.headers['x-content-type-options']).toBe('nosniff')
      expect(response.headers['cache-control']).toBe('no-store')
    })

    it('sends a browser without a token to the bank login with return_to (303)', async () => {
      const response = await app.inject({ url: '/' })
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe(loginRedirect)
    })

    it('sends a browser with an invalid token to the bank login too', async () => {
      const response = await app.inject({ url: '/', cookies: { access_token: 'expired.or.forged' } })
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe(loginRedirect)
    })

    it('keeps the query string in return_to', async () => {
      const response = await app.inject({ url: '/?tab=history' })
      expect(response.headers.location).toBe(
        `${TEST_BANK_URL}/login?return_to=${encodeURIComponent(`${TEST_RETIREMENT_URL}/?tab=history`)}`,
      )
    })
  })

  describe('POST /contributions', () => {
    it('adds the contribution and redirects (303) to the plan page', async () => {
      const token = forgeAccessToken(alice, { secret: TEST_JWT_SECRET })
      const { cookies, csrfToken } = await openPlanPage(token)
      const response = await postForm(cookies, { _csrf: csrfToken, amount: '12.50' })
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe('/')
      const plan = await app.inject({ url: '/api/plan', headers: bearer(token) })
      expect(plan.json().data).toMatchObject({ balanceCents: 1250, contributions: [{ amountCents: 1250 }] })
      const page = await app.inject({ url: '/', cookies })
      expect(page.body).toContain('<strong id="balance">$12.50</strong>')
    })

    it('refuses a form without a CSRF token with 403 and saves nothing', async () => {
      const token = forgeAccessToken(alice, { secret: TEST_JWT_SECRET })
      const { cookies } = await openPlanPage(token)
      const response = await postForm(cookies, { amount: '12.50' })
      expect(response.statusCode).toBe(403)
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(response.body).toContain('This form has expired')
      const plan = await app.inject({ url: '/api/plan', headers: bearer(token) })
      expect(plan.json().data.balanceCents).toBe(0)
    })

    it('refuses a CSRF token without its cookie with 403', async () => {
      const { csrfToken } = await openPlanPage(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }))
      const response = await postForm(
        { access_token: forgeAccessToken(alice, { secret: TEST_JWT_SECRET }) },
        { _csrf: csrfToken, amount: '1' },
      )
      expect(response.statusCode).toBe(403)
    })

    it('refuses a wrong CSRF token with 403', async () => {
      const { cookies } = await openPlanPage(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }))
      const response = await postForm(cookies, { _csrf: 'forged-token', amount: '1' })
      expect(response.statusCode).toBe(403)
    })

    it('shows the page again with an error (400) for a bad amount', async () => {
      const { cookies, csrfToken } = await openPlanPage(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }))
      const response = await postForm(cookies, { _csrf: csrfToken, amount: '-5' })
      expect(response.statusCode).toBe(400)
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(response.body).toContain('class="error"')
      expect(response.body).toContain('value="-5"')
      expect(response.body).toMatch(/name="_csrf" value="[^"]+"/)
    })

    it('sends a browser whose token expired to the bank login', async () => {
      const { cookies, csrfToken } = await openPlanPage(forgeAccessToken(alice, { secret: TEST_JWT_SECRET }))
      const expired = forgeAccessToken(alice, {
        secret: TEST_JWT_SECRET,
        claims: { exp: Math.floor(Date.now() / 1000) - 60 },
      })
      const response = await postForm({ ...cookies, access_token: expired }, { _csrf: csrfToken, amount: '1' })
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe(loginRedirect)
    })
  })

  describe('the history on the plan page', () => {
    const rowsOf = (page: string) => (/<tbody>([\s\S]*)<\/tbody>/.exec(page)?.[1] ?? '').match(/<tr\b/g)?.length ?? 0

    it('shows the newest 100, whatever the history, and pages back to the first without script', async () => {
      const settings = { databaseUrl: database.DATABASE_URL, databasePath: database.DATABASE_PATH }
      await seedContributions(settings, alice.id, 150)
      const cookies = { access_token: forgeAccessToken(alice, { secret: TEST_JWT_SECRET }) }
      const newest = await app.inject({ url: '/', cookies })
      expect(newest.statusCode).toBe(200)
      expect(rowsOf(newest.body)).toBe(100)
      const older = /<a id="older" href="([^"]+)"/.exec(newest.body)?.[1]?.replaceAll('&amp;', '&')
      expect(older).toMatch(/^\/\?before=/)
      const oldest = await app.inject({ url: older ?? '', cookies })
      expect(oldest.statusCode).toBe(200)
      expect(rowsOf(oldest.body)).toBe(50)
      expect(oldest.body).not.toContain('id="older"')
    })
  })
})
