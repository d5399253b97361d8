import { injectInto, logIn, register } from '@sso/shared/testing'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import { bankMigrations } from '../db/migrations/index.js'
import { REFRESHES_PER_SESSION } from '../sessions/refresh-limits.js'
import { alice, buildTestApp, cookiesOf, createTestConfig, databaseConfig } from '../test-app.js'

describeEachEngine('pages-routes (bank)', (engine) => {
  const freshDatabase = async () => databaseConfig(await engine.createDatabase(bankMigrations))

  let app: App
  beforeEach(async () => {
    app = await buildTestApp(await freshDatabase())
  })
  afterEach(async () => {
    vi.useRealTimers()
    await app.close()
  })

  type Cookies = Record<string, string>

  /** Keeps cookies across requests like a browser: set ones replace, cleared ones go. */
  function updateJar(jar: Cookies, response: { cookies: Array<{ name: string; value: string }> }): Cookies {
    const next = { ...jar, ...cookiesOf(response) }
    return Object.fromEntries(Object.entries(next).filter(([, value]) => value !== ''))
  }

  function csrfTokenIn(page: string): string {
    const token = page.match(/name="_csrf" value="([^"]+)"/)?.[1]
    if (!token) throw new Error('no CSRF token in the page')
    return token
  }

  /** Opens a form page and returns what a browser would post it with: its CSRF token and cookie. */
  async function openForm(url: string, jar: Cookies = {}) {
    const response = await app.inject({ url, cookies: jar })
    expect(response.statusCode).toBe(200)
    return { csrfToken: csrfTokenIn(response.body), jar: updateJar(jar, response) }
  }

  function postForm(url: string, fields: Record<string, string>, jar: Cookies) {
    return app.inject({
      method: 'POST',
      url,
      payload: new URLSearchParams(fields).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      cookies: jar,
    })
  }

  async function submitLogin(fields: Record<string, string>, formUrl = '/login') {
    const { csrfToken, jar } = await openForm(formUrl)
    return postForm('/login', { _csrf: csrfToken, ...fields }, jar)
  }

  describe('GET /login', () => {
    it('shows a login form with a CSRF token and the security headers', async () => {
      const response = await app.inject({ url: '/login' })
      expect(response.statusCode).toBe(200)
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(response.body).toContain('<form method="post" action="/login">')
      expect(csrfTokenIn(response.body)).not.toBe('')
      expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'")
      expect(response.headers['x-content-type-options']).toBe('nosniff')
      expect(response.cookies.map((cookie) => cookie.name)).toContain('bank_csrf')
    })

    it('carries a safe return_to into the form and drops an unsafe one', async () => {
      const kept = await app.inject({ url: `/login?return_to=${encodeURIComponent('http://localhost:3001/')}` })
      expect(kept.body).toContain('<input type="hidden" name="return_to" value="http://localhost:3001/">')
      const dropped = await app.inject({ url: `/login?return_to=${encodeURIComponent('https://evil.example/')}` })
      expect(dropped.body).not.toContain('evil.example')
    })

    it('sends a browser with a valid access token straight to return_to', async () => {
      await register(injectInto(app), alice)
      const { cookies } = await logIn(injectInto(app), alice)
      const response = await app.inject({
        url: `/login?return_to=${encodeURIComponent('http://localhost:3001/')}`,
        cookies,
      })
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe('http://localhost:3001/')
    })

    it('resumes the session from the refresh cookie when the access token has expired, rotating it', async () => {
      await register(injectInto(app), alice)
      const { cookies } = await logIn(injectInto(app), alice)
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(Date.now() + (createTestConfig().ACCESS_TOKEN_TTL + 60) * 1000)
      const response = await app.inject({
        url: `/login?return_to=${encodeURIComponent('http://localhost:3001/plan')}`,
        cookies,
      })
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe('http://localhost:3001/plan')
      const renewed = cookiesOf(response)
      expect(renewed.access_token).toBeTruthy()
      expect(renewed.refresh_token).toBeTruthy()
      expect(renewed.refresh_token).not.toBe(cookies.refresh_token)
    })

    it('sends two tabs that come back at once with only the refresh cookie both to return_to, with one successor', async () => {
      await register(injectInto(app), alice)
      const { cookies } = await logIn(injectInto(app), alice)
      const refreshOnly = { refresh_token: cookies.refresh_token ?? '' }
      const returnTo = encodeURIComponent('http://localhost:3001/')
      const responses = await Promise.all(
        [1, 2].map(() => app.inject({ url: `/login?return_to=${returnTo}`, cookies: refreshOnly })),
      )
      expect(responses.map((response) => [response.statusCode, response.headers.location])).toEqual([
        [303, 'http://localhost:3001/'],
        [303, 'http://localhost:3001/'],
      ])
      const [first, second] = responses.map((response) => cookiesOf(response))
      expect(first?.refresh_token).toBeTruthy()
      expect(second?.refresh_token).toBe(first?.refresh_token)
      // The session lives on: the dashboard opens with the successor alone.
      const dashboard = await app.inject({ url: '/', cookies: { refresh_token: first?.refresh_token ?? '' } })
      expect(dashboard.statusCode).toBe(200)
      expect(dashboard.body).toContain('alice')
    })

    it('clears a refresh cookie that cannot be refreshed and shows the form, at /login and /', async () => {
      await register(injectInto(app), alice)
      const sessionId = (await logIn(injectInto(app), alice)).cookies.refresh_token?.split('.')[0] ?? ''
      const cookies = { refresh_token: `${sessionId}.2147483648.${'A'.repeat(43)}.${'B'.repeat(22)}` }
      const form = await app.inject({ url: '/login', cookies })
      expect(form.statusCode).toBe(200)
      expect(form.body).toContain('action="/login"')
      expect(cookiesOf(form).refresh_token).toBe('')
      const dashboard = await app.inject({ url: '/', cookies })
      expect(dashboard.statusCode).toBe(303)
      expect(dashboard.headers.location).toBe('/login')
      expect(cookiesOf(dashboard).refresh_token).toBe('')
    })

    it('shows the login form with 429 and Retry-After when silent refreshes exceed the session budget', async () => {
      await register(injectInto(app), alice)
      let refreshToken = (await logIn(injectInto(app), alice)).cookies.refresh_token ?? ''
      const returnTo = encodeURIComponent('http://localhost:3001/')
      for (let round = 0; round < REFRESHES_PER_SESSION.max; round++) {
        const response = await app.inject({
          url: `/login?return_to=${returnTo}`,
          cookies: { refresh_token: refreshToken },
        })
        expect(response.statusCode).toBe(303)
        refreshToken = cookiesOf(response).refresh_token ?? ''
      }
      const limited = await app.inject({
        url: `/login?return_to=${returnTo}`,
        cookies: { refresh_token: refreshToken },
      })
      expect(limited.statusCode).toBe(429)
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
      expect(limited.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(limited.body).toContain('action="/login"')
      expect(limited.body).toContain('value="http://localhost:3001/"')
    })

    it('never follows an unsafe return_to, even for a signed-in browser', async () => {
      await register(injectInto(app), alice)
      const { cookies } = await logIn(injectInto(app), alice)
      for (const evil of [
        'https://evil.example/',
        '//evil.example',
        '/\\evil.example',
        'http://localhost:3001@evil.example',
      ]) {
        const response = await app.inject({ url: `/login?return_to=${encodeURIComponent(evil)}`, cookies })
        expect(response.headers.location).toBe('/')
      }
    })

    it('shows the form when the only cookie is a revoked refresh token', async () => {
      await register(injectInto(app), alice)
      const { cookies } = await logIn(injectInto(app), alice)
      await app.inject({ method: 'POST', url: '/api/logout', cookies })
      const response = await app.inject({ url: '/login', cookies: { refresh_token: cookies.refresh_token ?? '' } })
      expect(response.statusCode).toBe(200)
      expect(response.body).toContain('action="/login"')
    })
  })

  describe('POST /login', () => {
    beforeEach(async () => {
      await register(injectInto(app), alice)
    })

    it('sets both cookies and answers 303 to /', async () => {
      const response = await submitLogin(alice)
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe('/')
      expect(Object.keys(cookiesOf(response))).toEqual(expect.arrayContaining(['access_token', 'refresh_token']))
    })

    it('answers 303 to a return_to on the retirement app', async () => {
      const response = await submitLogin({ ...alice, return_to: 'http://localhost:3001/' })
      expect(response.headers.location).toBe('http://localhost:3001/')
    })

    it.each([
      'https://evil.example/',
      '//evil.example/',
      '/\\evil.example',
      'http://localhost:3001.evil.example/',
      'javascript:alert(1)',
    ])('answers 303 to / instead of the unsafe return_to %s', async (returnTo) => {
      const response = await submitLogin({ ...alice, return_to: returnTo })
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe('/')
    })

    it('refuses a form without a CSRF token with 403', async () => {
      const { jar } = await openForm('/login')
      const response = await postForm('/login', alice, jar)
      expect(response.statusCode).toBe(403)
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(response.cookies.map((cookie) => cookie.name)).not.toContain('access_token')
    })

    it('refuses a CSRF token without its cookie (a cross-site post) with 403', async () => {
      const { csrfToken } = await openForm('/login')
      const response = await postForm('/login', { ...alice, _csrf: csrfToken }, {})
      expect(response.statusCode).toBe(403)
    })

    it('shows the form again with 401, the username kept and the password never echoed', async () => {
      const response = await submitLogin({ username: 'alice', password: 'the wrong password' })
      expect(response.statusCode).toBe(401)
      expect(response.body).toContain('Invalid username/password')
      expect(response.body).toContain('value="alice"')
      expect(response.body).not.toContain('the wrong password')
      expect(csrfTokenIn(response.body)).not.toBe('')
    })

    it('shows an unknown user exactly the same form as a wrong password, apart from the CSRF token', async () => {
      const strip = (page: string) => page.replace(/name="_csrf" value="[^"]+"/, '').replace(/value="[a-z]+"/, '')
      const wrongPassword = await submitLogin({ username: 'alice', password: 'the wrong password' })
      const unknownUser = await submitLogin({ username: 'mallory', password: 'the wrong password' })
      expect(unknownUser.statusCode).toBe(wrongPassword.statusCode)
      expect(strip(unknownUser.body)).toBe(strip(wrongPassword.body))
    })

    it('shows the form again with 400 for an invalid username, escaping what was typed', async () => {
      const response = await submitLogin({ username: '<script>alert(1)</script>', password: 'whatever password' })
      expect(response.statusCode).toBe(400)
      expect(response.body).toContain('value="&lt;script&gt;alert(1)&lt;/script&gt;"')
      expect(response.body).not.toContain('<script>')
    })

    it('shows the form with 429 and Retry-After once the username is locked', async () => {
      for (let attempt = 1; attempt <= 10; attempt++) {
        await app.inject({
          method: 'POST',
          url: '/api/login',
          payload: { username: 'alice', password: 'wrong guess!' },
        })
      }
      const response = await submitLogin(alice)
      expect(response.statusCode).toBe(429)
      expect(Number(response.headers['retry-after'])).toBeGreaterThan(0)
      expect(response.body).toContain('Too many attempts')
      expect(response.body).toContain('value="alice"')
    })

    it('shows the form with 429 and Retry-After once the address spent its login budget through either door', async () => {
      const { csrfToken, jar } = await openForm('/login')
      // Refused by the schema, so no argon2 work, but counted: the JSON API and the form share one budget.
      for (let attempt = 0; attempt < 100; attempt++) {
        await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'x' } })
      }
      const response = await postForm('/login', { _csrf: csrfToken, ...alice }, jar)
      expect(response.statusCode).toBe(429)
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(Number(response.headers['retry-after'])).toBeGreaterThan(0)
      expect(response.body).toContain('<form method="post" action="/login">')
      expect(response.body).toContain('Too many attempts')
      expect(response.cookies.map((cookie) => cookie.name)).not.toContain('access_token')
    })
  })

  describe('GET /register and POST /register', () => {
    it('signs the new user up and in, and answers 303 to return_to', async () => {
      const { csrfToken, jar } = await openForm('/register?return_to=%2F')
      const response = await postForm(
        '/register',
        { _csrf: csrfToken, username: 'Carol', password: 'a fine password', return_to: 'http://localhost:3001/' },
        jar,
      )
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe('http://localhost:3001/')
      const dashboard = await app.inject({ url: '/', cookies: updateJar(jar, response) })
      expect(dashboard.body).toContain('Hello, carol')
    })

    it('shows the form again with 409 for a taken username', async () => {
      await register(injectInto(app), alice)
      const { csrfToken, jar } = await openForm('/register')
      const response = await postForm(
        '/register',
        { _csrf: csrfToken, username: 'ALICE', password: 'another one!' },
        jar,
      )
      expect(response.statusCode).toBe(409)
      expect(response.body).toContain('That username is already taken')
      expect(response.body).toContain('value="ALICE"')
      expect(response.body).not.toContain('another one!')
    })

    it('shows the form again with 400 for a short password', async () => {
      const { csrfToken, jar } = await openForm('/register')
      const response = await postForm('/register', { _csrf: csrfToken, username: 'carol', password: 'short' }, jar)
      expect(response.statusCode).toBe(400)
      expect(response.body).toContain('8 to 128 characters')
    })

    it('refuses a form without a CSRF token with 403', async () => {
      const { jar } = await openForm('/register')
      expect((await postForm('/register', { username: 'carol', password: 'a fine password' }, jar)).statusCode).toBe(
        403,
      )
    })
  })

  describe('GET /', () => {
    it('sends a browser without a session to /login with 303', async () => {
      const response = await app.inject({ url: '/' })
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe('/login')
    })

    it('shows the username, the balances and a link to the retirement app', async () => {
      await register(injectInto(app), alice)
      const { cookies } = await logIn(injectInto(app), alice)
      const response = await app.inject({ url: '/', cookies })
      expect(response.statusCode).toBe(200)
      expect(response.body).toContain('Hello, alice')
      expect(response.body).toContain('Checking')
      expect(response.body).toContain('$0.00')
      expect(response.body).toContain('href="http://localhost:3001"')
      expect(response.headers['cache-control']).toBe('no-store')
    })

    it('refreshes silently when the access token has expired but the session lives', async () => {
      await register(injectInto(app), alice)
      const { cookies } = await logIn(injectInto(app), alice)
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(Date.now() + (createTestConfig().ACCESS_TOKEN_TTL + 60) * 1000)
      const response = await app.inject({ url: '/', cookies })
      expect(response.statusCode).toBe(200)
      expect(response.body).toContain('Hello, alice')
      expect(cookiesOf(response).access_token).toBeTruthy()
    })

    it('sends the browser to /login once the session itself has ended', async () => {
      await register(injectInto(app), alice)
      const { cookies } = await logIn(injectInto(app), alice)
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(Date.now() + (createTestConfig().REFRESH_TOKEN_TTL + 60) * 1000)
      const response = await app.inject({ url: '/', cookies })
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe('/login')
    })
  })

  describe('POST /logout', () => {
    it('revokes the session, clears the cookies and answers 303 to /login', async () => {
      await register(injectInto(app), alice)
      const { cookies } = await logIn(injectInto(app), alice)
      const { csrfToken, jar } = await openForm('/', cookies)
      const response = await postForm('/logout', { _csrf: csrfToken }, jar)
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe('/login')
      expect(cookiesOf(response)).toMatchObject({ access_token: '', refresh_token: '' })
      const refresh = await app.inject({ method: 'POST', url: '/api/refresh', cookies })
      expect(refresh.statusCode).toBe(401)
    })

    it('refuses a logout without a CSRF token with 403 and keeps the session', async () => {
      await register(injectInto(app), alice)
      const { cookies } = await logIn(injectInto(app), alice)
      const { jar } = await openForm('/', cookies)
      expect((await postForm('/logout', {}, jar)).statusCode).toBe(403)
      expect((await app.inject({ method: 'POST', url: '/api/refresh', cookies })).statusCode).toBe(200)
    })
  })

  describe('GET /logout (the way out from the retirement app)', () => {
    const retirementPlan = `${createTestConfig().RETIREMENT_PUBLIC_URL}/`

    it('shows a confirm form that posts to /logout with a CSRF token, and logs nobody out', async () => {
      await register(injectInto(app), alice)
      const { cookies } = await logIn(injectInto(app), alice)
      const response = await app.inject({ url: `/logout?return_to=${encodeURIComponent(retirementPlan)}`, cookies })
      expect(response.statusCode).toBe(200)
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(response.body).toContain('<form method="post" action="/logout">')
      expect(csrfTokenIn(response.body)).not.toBe('')
      // "Stay signed in" goes back where the user came from.
      expect(response.body).toContain(`href="${retirementPlan}"`)
      expect(cookiesOf(response).access_token).toBeUndefined()
      expect(cookiesOf(response).refresh_token).toBeUndefined()
      const me = await app.inject({ url: '/api/me', cookies })
      expect(me.statusCode).toBe(200)
      expect((await app.inject({ method: 'POST', url: '/api/refresh', cookies })).statusCode).toBe(200)
    })

    it('signs out once the confirm form is posted with its CSRF token, and ends at /login', async () => {
      await register(injectInto(app), alice)
      const { cookies } = await logIn(injectInto(app), alice)
      const { csrfToken, jar } = await openForm('/logout', cookies)
      const response = await postForm('/logout', { _csrf: csrfToken }, jar)
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe('/login')
      expect(cookiesOf(response)).toMatchObject({ access_token: '', refresh_token: '' })
      expect((await app.inject({ method: 'POST', url: '/api/refresh', cookies })).statusCode).toBe(401)
    })

    it('shows the form to a browser holding only a refresh cookie, without rotating it', async () => {
      await register(injectInto(app), alice)
      const { cookies } = await logIn(injectInto(app), alice)
      const response = await app.inject({ url: '/logout', cookies: { refresh_token: cookies.refresh_token ?? '' } })
      expect(response.statusCode).toBe(200)
      expect(response.body).toContain('<form method="post" action="/logout">')
      expect(cookiesOf(response).refresh_token).toBeUndefined()
    })

    it('sends a browser that is not signed in to /login', async () => {
      const response = await app.inject({ url: '/logout' })
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe('/login')
    })

    it('never offers a way back outside the two apps', async () => {
      await register(injectInto(app), alice)
      const { cookies } = await logIn(injectInto(app), alice)
      const response = await app.inject({ url: '/logout?return_to=https%3A%2F%2Fevil.example%2F', cookies })
      expect(response.statusCode).toBe(200)
      expect(response.body).not.toContain('evil.example')
    })
  })

  describe('the dashboard session list (single logout)', () => {
    const sidOf = (accessToken: string) =>
      JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString('utf8')).sid as string

    it('lists every live session with its own sign-out form and a "Sign out everywhere" form, all with CSRF tokens', async () => {
      await register(injectInto(app), alice)
      const here = await logIn(injectInto(app), alice)
      const elsewhere = await app.inject({
        method: 'POST',
        url: '/api/login',
        payload: alice,
        headers: { 'user-agent': 'Phone <script>' },
      })
      const response = await app.inject({ url: '/', cookies: here.cookies })
      expect(response.statusCode).toBe(200)
      const page = response.body
      expect(page).toContain(`data-session-id="${sidOf(here.accessToken)}"`)
      expect(page).toContain(`data-session-id="${sidOf(elsewhere.json().data)}"`)
      expect(page).toContain('Phone &lt;script&gt;')
      expect(page).toContain('(this browser)')
      expect(page.match(/action="\/sessions\/end"/g)).toHaveLength(2)
      expect(page).toContain('name="everywhere" value="true"')
      const forms = page.match(/<form[\s\S]*?<\/form>/g) ?? []
      for (const form of forms) expect(form).toMatch(/name="_csrf" value="[^"]+"/)
    })

    it('signs another session out from its button and stays on the dashboard', async () => {
      await register(injectInto(app), alice)
      const here = await logIn(injectInto(app), alice)
      const elsewhere = await logIn(injectInto(app), alice)
      const { csrfToken, jar } = await openForm('/', here.cookies)
      const response = await postForm(
        '/sessions/end',
        { _csrf: csrfToken, session_id: sidOf(elsewhere.accessToken) },
        jar,
      )
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe('/')
      const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
      expect((await app.inject({ url: '/api/me', headers: bearer(elsewhere.accessToken) })).statusCode).toBe(401)
      expect((await app.inject({ url: '/api/me', headers: bearer(here.accessToken) })).statusCode).toBe(200)
    })

    it("ends this browser's session from its own button like a logout", async () => {
      await register(injectInto(app), alice)
      const here = await logIn(injectInto(app), alice)
      const { csrfToken, jar } = await openForm('/', here.cookies)
      const response = await postForm('/sessions/end', { _csrf: csrfToken, session_id: sidOf(here.accessToken) }, jar)
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe('/login')
      expect(cookiesOf(response)).toMatchObject({ access_token: '', refresh_token: '' })
    })

    it('"Sign out everywhere" ends every session of the user', async () => {
      await register(injectInto(app), alice)
      const here = await logIn(injectInto(app), alice)
      const elsewhere = await logIn(injectInto(app), alice)
      const { csrfToken, jar } = await openForm('/', here.cookies)
      const response = await postForm('/logout', { _csrf: csrfToken, everywhere: 'true' }, jar)
      expect(response.statusCode).toBe(303)
      expect(response.headers.location).toBe('/login')
      for (const { accessToken } of [here, elsewhere]) {
        const me = await app.inject({ url: '/api/me', headers: { authorization: `Bearer ${accessToken}` } })
        expect(me.statusCode).toBe(401)
      }
    })

    it('refuses a session sign-out without a CSRF token with 403', async () => {
      await register(injectInto(app), alice)
      const here = await logIn(injectInto(app), alice)
      const elsewhere = await logIn(injectInto(app), alice)
      const { jar } = await openForm('/', here.cookies)
      expect((await postForm('/sessions/end', { session_id: sidOf(elsewhere.accessToken) }, jar)).statusCode).toBe(403)
      const me = await app.inject({ url: '/api/me', headers: { authorization: `Bearer ${elsewhere.accessToken}` } })
      expect(me.statusCode).toBe(200)
    })
  })
})
