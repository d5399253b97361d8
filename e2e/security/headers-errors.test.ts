// Response headers and error bodies (ASVS V14.4, V8.2.1, V7.4.1). Pages get a
// strict CSP and friends; per-user answers are never cached; no error, however provoked, carries a stack trace,
// SQL, the secret or a token — not even one the client put in the URL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, HttpClient, readCsrfToken } from '../support/http-client.js'
import { Services } from '../support/start-services.js'
import { expectNothingLeaked, forge, registerAndLogIn, type TestUser } from './support.js'

let services: Services
let user: TestUser
beforeAll(async () => {
  services = await Services.start()
  user = await registerAndLogIn(services)
})
afterAll(async () => {
  await services?.stopAll()
})

const bank = () => services.bankUrl
const retirement = () => services.retirementUrl

/** The directives of a CSP header, by name. */
function cspDirectives(header: string | null): Map<string, string> {
  return new Map(
    (header ?? '')
      .split(';')
      .map((directive) => directive.trim())
      .filter(Boolean)
      .map((directive) => {
        const [name = '', ...values] = directive.split(/\s+/)
        return [name.toLowerCase(), values.join(' ')]
      }),
  )
}

describe('HTML pages', () => {
  const pages: Array<[string, () => string, boolean]> = [
    ['bank /login', () => `${bank()}/login`, false],
    ['bank /register', () => `${bank()}/register`, false],
    ['bank dashboard', () => `${bank()}/`, true],
    ['retirement plan page', () => `${retirement()}/`, true],
  ]

  it.each(pages)(
    '%s: CSP with default-src, object-src and frame-ancestors none; nosniff; no referrer',
    async (_name, url, signedIn) => {
      const response = await (signedIn ? user.client : new HttpClient()).get(url())
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8')
      const csp = cspDirectives(response.headers.get('content-security-policy'))
      expect(csp.get('default-src')).toBe("'none'")
      expect(csp.get('object-src')).toBe("'none'")
      expect(csp.get('frame-ancestors')).toBe("'none'")
      expect(csp.get('base-uri')).toBe("'none'")
      // No inline or remote script can run: the pages need none.
      expect(csp.get('script-src') ?? "'none'").toBe("'none'")
      expect(response.headers.get('x-content-type-options')).toBe('nosniff')
      expect(response.headers.get('referrer-policy')).toBe('no-referrer')
      expect(response.headers.get('cache-control')).toBe('no-store')
      expect(response.headers.get('x-powered-by')).toBeNull()
      const page = await response.text()
      expect(page).not.toMatch(/<script/i)
      expect(page).not.toMatch(/eyJ[\w-]+\./)
    },
  )

  it('escapes a hostile username typed into the login form', async () => {
    const browser = new HttpClient()
    const csrf = readCsrfToken(await (await browser.get(`${bank()}/login`)).text())
    const response = await browser.postForm(`${bank()}/login`, {
      _csrf: csrf,
      username: '"><img src=x onerror=alert(1)>',
      password: 'whatever password',
    })
    expect(response.status).toBe(400)
    const page = await response.text()
    expect(page).not.toContain('<img src=x')
    expect(page).toContain('&quot;&gt;&lt;img')
  })
})

describe('markup in a validly signed token', () => {
  // Only a key holder can sign such a token, but a page must escape what it shows whatever signed it.
  const hostileName = '<img src=x onerror=alert(1)>'

  it.each([
    ['bank dashboard', () => `${bank()}/`],
    ['retirement plan page', () => `${retirement()}/`],
  ])('%s escapes the username it shows', async (_name, url) => {
    const token = forge(user, { claims: { username: hostileName } })
    const response = await fetch(url(), {
      headers: { cookie: `access_token=${token}` },
      signal: AbortSignal.timeout(10_000),
    })
    expect(response.status).toBe(200)
    const page = await response.text()
    expect(page).not.toContain(hostileName)
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;')
  })
})

describe('per-user answers are never cached', () => {
  it.each([
    ['bank /api/me', () => `${bank()}/api/me`],
    ['bank /api/accounts', () => `${bank()}/api/accounts`],
    ['retirement /api/me', () => `${retirement()}/api/me`],
    ['retirement /api/plan', () => `${retirement()}/api/plan`],
  ])('%s: Cache-Control no-store, JSON with nosniff', async (_name, url) => {
    const response = await new HttpClient().get(url(), bearer(user.accessToken))
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(response.headers.get('content-type')).toMatch(/^application\/json/)
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
  })

  it('the login and refresh answers, which carry tokens, are no-store too', async () => {
    const refreshed = await user.client.request(`${bank()}/api/refresh`, { method: 'POST' })
    expect(refreshed.status).toBe(200)
    expect(refreshed.headers.get('cache-control')).toBe('no-store')
    user.accessToken = user.client.jar.get('access_token') ?? user.accessToken
  })
})

describe('error bodies', () => {
  /** Every error answer: JSON shape, the right status, nothing internal, and not the token we sent. */
  async function expectCleanError(response: Response, status: number, token = user.accessToken) {
    const text = await response.text()
    expect(response.status, text).toBe(status)
    expect(JSON.parse(text)).toMatchObject({ status: 'error', error: expect.any(String) })
    expectNothingLeaked(text, [token, user.refreshToken])
  }

  it.each([
    ['bank', bank],
    ['retirement', retirement],
  ])('%s: a 404 for a path holding a token does not echo the token', async (_name, base) => {
    await expectCleanError(await fetch(`${base()}/api/${user.accessToken}`), 404)
  })

  it.each([
    ['bank', bank],
    ['retirement', retirement],
  ])('%s: a malformed URL holding a token does not echo the token', async (_name, base) => {
    const response = await fetch(`${base()}/api/%zz${user.accessToken}`)
    expect([400, 404]).toContain(response.status)
    await expectCleanError(response, response.status)
  })

  it('a query string holding a token is not echoed in a 404', async () => {
    await expectCleanError(await fetch(`${retirement()}/nothing-here?access_token=${user.accessToken}`), 404)
  })

  it('a bad refresh cookie is not echoed', async () => {
    const bogus = 'B'.repeat(43)
    const response = await new HttpClient().request(`${bank()}/api/refresh`, {
      method: 'POST',
      headers: { cookie: `refresh_token=${bogus}` },
    })
    await expectCleanError(response, 401, bogus)
  })

  it('a schema error names the rule, not internals (retirement contribution of a string)', async () => {
    const response = await new HttpClient().sendJson(
      'POST',
      `${retirement()}/api/plan/contributions`,
      { amountCents: '1; DROP TABLE contributions; --' },
      bearer(user.accessToken),
    )
    await expectCleanError(response, 400)
  })

  const invented = '<img src=x onerror=alert(1)>'
  it.each([
    ['bank sign-up', () => `${bank()}/api/register`, () => ({ username: 'nobody_x', password: 'long enough pw' })],
    ['bank login', () => `${bank()}/api/login`, () => ({ username: 'nobody_x', password: 'long enough pw' })],
    ['retirement contribution', () => `${retirement()}/api/plan/contributions`, () => ({ amountCents: 100 })],
  ])('a 400 for an unknown property (%s) never echoes the name the client chose', async (_name, url, body) => {
    const response = await new HttpClient().sendJson(
      'POST',
      url(),
      { ...body(), [invented]: 1, nested: { [invented]: 1 } },
      bearer(user.accessToken),
    )
    const text = await response.clone().text()
    await expectCleanError(response, 400)
    expect(text).not.toContain('img')
    expect(text).not.toContain('onerror')
    expect(JSON.parse(text).error).toMatch(/must not have additional properties/)
  })

  it.each([
    ['zero', 0],
    ['negative', -5],
    ['fractional', 1.5],
    ['over the maximum', 100_000_001],
    ['beyond a safe integer', 2 ** 63],
  ])('refuses a %s contribution (400) and stores nothing', async (_name, amountCents) => {
    const response = await new HttpClient().sendJson(
      'POST',
      `${retirement()}/api/plan/contributions`,
      { amountCents },
      bearer(user.accessToken),
    )
    await expectCleanError(response, 400)
  })

  it('broken JSON gets a sentence, not a parser stack', async () => {
    const response = await new HttpClient().request(`${retirement()}/api/plan/contributions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(user.accessToken) },
      body: '{"amountCents": ',
    })
    await expectCleanError(response, 400)
  })

  it('a JSON body with a __proto__ key is refused (400)', async () => {
    const response = await new HttpClient().request(`${retirement()}/api/plan/contributions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(user.accessToken) },
      body: '{"amountCents": 1, "__proto__": {"isAdmin": true}}',
    })
    await expectCleanError(response, 400)
  })

  it('a token failure says only that the token is invalid (no reason an attacker could learn from)', async () => {
    const expired = await new HttpClient().get(`${retirement()}/api/me`, bearer(`${user.accessToken}x`))
    const text = await expired.text()
    expect(expired.status).toBe(401)
    expect(expired.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    expect(text).not.toMatch(/signature|expired at|FAST_JWT|kid|algorithm/i)
  })

  it('no Server or X-Powered-By header names the stack', async () => {
    const response = await fetch(`${bank()}/healthz`)
    expect(response.headers.get('x-powered-by')).toBeNull()
    expect(response.headers.get('server')).toBeNull()
  })
})
