// Cookie attributes and cross-site request forgery (ASVS V3.4, V4.2.2; OWASP CSRF Cheat Sheet). A
// forged request carries the victim's cookies; each case asserts the refusal and that nothing changed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, HttpClient, readCsrfToken, readJson } from '../support/http-client.js'
import { Services } from '../support/start-services.js'
import {
  expectNothingLeaked,
  PASSWORD,
  REFRESH_TOKEN_FORMAT,
  registerAndLogIn,
  type TestUser,
  uniqueUsername,
} from './support.js'

let services: Services
beforeAll(async () => {
  services = await Services.start()
})
afterAll(async () => {
  await services?.stopAll()
})

const EVIL = 'https://evil.example'

/** The raw Set-Cookie line for one cookie name, lowercased, split into attributes. */
function setCookieAttributes(response: Response, name: string): string[] | undefined {
  const line = response.headers.getSetCookie().find((candidate) => candidate.startsWith(`${name}=`))
  return line
    ?.split(';')
    .slice(1)
    .map((attribute) => attribute.trim().toLowerCase())
}

async function planBalance(user: TestUser): Promise<number> {
  const response = await user.client.get(`${services.retirementUrl}/api/plan`)
  expect(response.status).toBe(200)
  return (await readJson(response)).data.balanceCents
}

async function refreshStillWorks(user: TestUser): Promise<boolean> {
  const client = new HttpClient()
  client.jar.set('refresh_token', user.client.jar.get('refresh_token') ?? '')
  const response = await client.request(`${services.bankUrl}/api/refresh`, { method: 'POST' })
  if (response.status === 200) user.client.jar.set('refresh_token', client.jar.get('refresh_token') ?? '')
  return response.status === 200
}

describe('cookie attributes (COOKIE_SECURE=false, no COOKIE_DOMAIN)', () => {
  let login: Response
  beforeAll(async () => {
    const username = uniqueUsername()
    const client = new HttpClient()
    await client.sendJson('POST', `${services.bankUrl}/api/register`, { username, password: PASSWORD })
    login = await client.sendJson('POST', `${services.bankUrl}/api/login`, { username, password: PASSWORD })
    expect(login.status).toBe(200)
  })

  it('sets access_token HttpOnly, SameSite=Lax, Path=/, Max-Age = access TTL, host-only, not Secure', () => {
    const attributes = setCookieAttributes(login, 'access_token')
    expect(attributes).toEqual(expect.arrayContaining(['httponly', 'samesite=lax', 'path=/', 'max-age=900']))
    expect(attributes?.some((attribute) => attribute.startsWith('domain='))).toBe(false)
    expect(attributes).not.toContain('secure')
  })

  it('sets refresh_token HttpOnly, SameSite=Lax, host-only, with a lifetime no longer than the session', () => {
    const attributes = setCookieAttributes(login, 'refresh_token') ?? []
    expect(attributes).toEqual(expect.arrayContaining(['httponly', 'samesite=lax', 'path=/']))
    expect(attributes.some((attribute) => attribute.startsWith('domain='))).toBe(false)
    const maxAge = Number(attributes.find((attribute) => attribute.startsWith('max-age='))?.slice(8))
    expect(maxAge).toBeGreaterThan(0)
    expect(maxAge).toBeLessThanOrEqual(604_800)
  })

  it('gives the CSRF secret cookie HttpOnly and SameSite=Strict', async () => {
    const page = await fetch(`${services.bankUrl}/login`, { signal: AbortSignal.timeout(10_000) })
    expect(setCookieAttributes(page, 'bank_csrf')).toEqual(expect.arrayContaining(['httponly', 'samesite=strict']))
  })

  it('never puts a token in a readable place: the login answer body is the only copy outside HttpOnly cookies', async () => {
    const page = await fetch(`${services.bankUrl}/login`, { signal: AbortSignal.timeout(10_000) })
    expect(await page.text()).not.toMatch(/eyJ[\w-]+\./)
  })
})

describe('cross-site requests with the victim’s cookies', () => {
  let victim: TestUser
  beforeAll(async () => {
    victim = await registerAndLogIn(services)
  })

  it.each([
    ['a foreign Origin', { origin: EVIL }],
    ['Origin: null (a sandboxed frame)', { origin: 'null' }],
    ['a look-alike Origin', { origin: 'http://localhost.evil.example' }],
  ])('refuses a JSON contribution at retirement from %s (403) and stores nothing', async (_name, headers) => {
    const before = await planBalance(victim)
    const response = await victim.client.sendJson(
      'POST',
      `${services.retirementUrl}/api/plan/contributions`,
      { amountCents: 100 },
      headers,
    )
    expect(response.status).toBe(403)
    expect(await readJson(response)).toMatchObject({ status: 'error', code: 'SSO_CSRF_ORIGIN' })
    expect(await planBalance(victim)).toBe(before)
  })

  it('refuses an Origin on the right host but another port (403)', async () => {
    const port = Number(new URL(services.retirementUrl).port) + 1
    const response = await victim.client.sendJson(
      'POST',
      `${services.retirementUrl}/api/plan/contributions`,
      { amountCents: 100 },
      { origin: `http://localhost:${port}` },
    )
    expect(response.status).toBe(403)
  })

  it.each([
    ['text/plain', 'text/plain', '{"amountCents":100}'],
    ['a form encoding', 'application/x-www-form-urlencoded', 'amountCents=100'],
    [
      'multipart',
      'multipart/form-data; boundary=x',
      '--x\r\nContent-Disposition: form-data; name="amountCents"\r\n\r\n100\r\n--x--',
    ],
    ['a JSON look-alike type', 'application/json-seq', '{"amountCents":100}'],
    ['text/plain naming JSON as a parameter', 'text/plain; application/json', '{"amountCents":100}'],
  ])(
    'refuses a contribution sent as %s (415), even from the app’s own Origin, and stores nothing',
    async (_name, type, body) => {
      const before = await planBalance(victim)
      const response = await victim.client.request(`${services.retirementUrl}/api/plan/contributions`, {
        method: 'POST',
        headers: { 'content-type': type, origin: services.retirementUrl },
        body,
      })
      expect(response.status).toBe(415)
      expect(await planBalance(victim)).toBe(before)
    },
  )

  it('refuses a body sent with no Content-Type (415) and stores nothing', async () => {
    const before = await planBalance(victim)
    const response = await victim.client.request(`${services.retirementUrl}/api/plan/contributions`, {
      method: 'POST',
      body: new Blob(['{"amountCents":100}']),
    })
    expect(response.status).toBe(415)
    expect(await planBalance(victim)).toBe(before)
  })

  it('refuses the retirement contribution form without its CSRF token (403 page) and stores nothing', async () => {
    const before = await planBalance(victim)
    const response = await victim.client.postForm(`${services.retirementUrl}/contributions`, { amount: '1.00' })
    expect(response.status).toBe(403)
    expect(response.headers.get('content-type')).toMatch(/^text\/html/)
    expect(response.headers.get('location')).toBeNull()
    expect(await planBalance(victim)).toBe(before)
  })

  it("refuses the form with another browser's CSRF token (tokens are bound to their own secret cookie)", async () => {
    const attacker = await registerAndLogIn(services)
    const attackerToken = readCsrfToken(await (await attacker.client.get(`${services.retirementUrl}/`)).text())
    // The victim's browser has its own CSRF cookie from visiting the page.
    await victim.client.get(`${services.retirementUrl}/`)
    const before = await planBalance(victim)
    const response = await victim.client.postForm(`${services.retirementUrl}/contributions`, {
      _csrf: attackerToken,
      amount: '1.00',
    })
    expect(response.status).toBe(403)
    expect(await planBalance(victim)).toBe(before)
  })

  it("refuses the retirement form with the bank's CSRF token (each app checks its own)", async () => {
    const bankToken = readCsrfToken(await (await victim.client.get(`${services.bankUrl}/`)).text())
    await victim.client.get(`${services.retirementUrl}/`)
    const before = await planBalance(victim)
    const response = await victim.client.postForm(`${services.retirementUrl}/contributions`, {
      _csrf: bankToken,
      amount: '1.00',
    })
    expect(response.status).toBe(403)
    expect(await planBalance(victim)).toBe(before)
  })

  it('refuses a forged logout form at the bank (403) and the session lives on', async () => {
    const response = await victim.client.postForm(`${services.bankUrl}/logout`, {})
    expect(response.status).toBe(403)
    expect(victim.client.jar.get('access_token')).toBeDefined()
    expect(await refreshStillWorks(victim)).toBe(true)
  })

  it('refuses a cookie-authenticated /api/logout from a foreign Origin (403) and the session lives on', async () => {
    const response = await victim.client.request(`${services.bankUrl}/api/logout`, {
      method: 'POST',
      headers: { origin: EVIL },
    })
    expect(response.status).toBe(403)
    expect(response.headers.getSetCookie()).toEqual([])
    expect(await refreshStillWorks(victim)).toBe(true)
  })

  it('refuses a cookie-authenticated /api/refresh from a foreign Origin (403) without issuing tokens', async () => {
    const response = await victim.client.request(`${services.bankUrl}/api/refresh`, {
      method: 'POST',
      headers: { origin: EVIL },
    })
    expect(response.status).toBe(403)
    expect(response.headers.getSetCookie()).toEqual([])
    expectNothingLeaked(await response.text(), [victim.refreshToken])
  })

  it('lets a Bearer-authenticated API client through from any Origin (no cookie, nothing to forge)', async () => {
    const response = await new HttpClient().sendJson(
      'POST',
      `${services.retirementUrl}/api/plan/contributions`,
      { amountCents: 1 },
      { ...bearer(victim.accessToken), origin: EVIL },
    )
    expect(response.status).toBe(201)
  })
})

describe('CORS: nothing lets a foreign page read answers or skip the JSON rule', () => {
  it.each([
    ['bank', () => `${services.bankUrl}/api/me`],
    ['retirement', () => `${services.retirementUrl}/api/plan/contributions`],
  ])('%s answers a preflight from a foreign Origin with no Access-Control-Allow-* header', async (_name, url) => {
    const response = await fetch(url(), {
      method: 'OPTIONS',
      headers: {
        origin: EVIL,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
      signal: AbortSignal.timeout(10_000),
    })
    expect(response.status).toBeGreaterThanOrEqual(400)
    for (const [name] of response.headers) expect(name).not.toMatch(/^access-control-allow-/)
  })

  it.each([
    ['bank', () => `${services.bankUrl}/api/me`],
    ['retirement', () => `${services.retirementUrl}/api/me`],
  ])(
    '%s sends no Access-Control-Allow-Origin on a cookie-authenticated read from a foreign Origin',
    async (_name, url) => {
      const victim = await registerAndLogIn(services)
      const response = await victim.client.get(url(), { origin: EVIL })
      expect(response.headers.get('access-control-allow-origin')).toBeNull()
      expect(response.headers.get('access-control-allow-credentials')).toBeNull()
    },
  )
})

describe('login CSRF (logging the victim into the attacker’s account)', () => {
  it('refuses the login form without a CSRF token (403) and sets no login cookie', async () => {
    const attacker = await registerAndLogIn(services)
    const victimBrowser = new HttpClient()
    await victimBrowser.get(`${services.bankUrl}/login`)
    const response = await victimBrowser.postForm(`${services.bankUrl}/login`, {
      username: attacker.username,
      password: PASSWORD,
    })
    expect(response.status).toBe(403)
    expect(victimBrowser.jar.get('access_token')).toBeUndefined()
    expect(victimBrowser.jar.get('refresh_token')).toBeUndefined()
  })

  it("refuses the login form with the attacker's own CSRF token (403)", async () => {
    const attacker = await registerAndLogIn(services)
    const attackerBrowser = new HttpClient()
    const token = readCsrfToken(await (await attackerBrowser.get(`${services.bankUrl}/login`)).text())
    const victimBrowser = new HttpClient()
    await victimBrowser.get(`${services.bankUrl}/login`)
    const response = await victimBrowser.postForm(`${services.bankUrl}/login`, {
      _csrf: token,
      username: attacker.username,
      password: PASSWORD,
    })
    expect(response.status).toBe(403)
    expect(victimBrowser.jar.get('access_token')).toBeUndefined()
  })

  it('refuses a JSON login from a foreign Origin (403) and sets no login cookie', async () => {
    const attacker = await registerAndLogIn(services)
    const victimBrowser = new HttpClient()
    const response = await victimBrowser.sendJson(
      'POST',
      `${services.bankUrl}/api/login`,
      { username: attacker.username, password: PASSWORD },
      { origin: EVIL },
    )
    expect(response.status).toBe(403)
    expect(response.headers.getSetCookie()).toEqual([])
  })

  it('refuses a JSON login sent as text/plain (415, the no-preflight form of a cross-site fetch)', async () => {
    const attacker = await registerAndLogIn(services)
    const response = await new HttpClient().request(`${services.bankUrl}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ username: attacker.username, password: PASSWORD }),
    })
    expect(response.status).toBe(415)
    expect(response.headers.getSetCookie()).toEqual([])
  })

  it.each([
    ['/%61pi/login', 'a form-encoded login'],
    ['/%61pi/register', 'a form-encoded sign-up'],
  ])('refuses %s (%s through a percent-encoded /api path) with 415, setting no cookie', async (path) => {
    const attacker = await registerAndLogIn(services)
    const response = await new HttpClient().request(`${services.bankUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: EVIL },
      body: new URLSearchParams({ username: `${attacker.username}x`, password: PASSWORD }).toString(),
    })
    expect(response.status).toBe(415)
    expect(response.headers.getSetCookie()).toEqual([])
  })

  it('refuses a JSON body posted to the login form route without a CSRF token (403), setting no cookie', async () => {
    const attacker = await registerAndLogIn(services)
    const victimBrowser = new HttpClient()
    const response = await victimBrowser.sendJson('POST', `${services.bankUrl}/login`, {
      username: attacker.username,
      password: PASSWORD,
    })
    expect([403, 415]).toContain(response.status)
    expect(victimBrowser.jar.get('access_token')).toBeUndefined()
    expect(victimBrowser.jar.get('refresh_token')).toBeUndefined()
  })

  it('refuses the sign-up form without a CSRF token (403) and creates no account', async () => {
    const username = uniqueUsername()
    const response = await new HttpClient().postForm(`${services.bankUrl}/register`, { username, password: PASSWORD })
    expect(response.status).toBe(403)
    const later = await new HttpClient().sendJson('POST', `${services.bankUrl}/api/register`, {
      username,
      password: PASSWORD,
    })
    expect(later.status).toBe(201)
  })
})

describe('cookie attributes with COOKIE_SECURE=true and COOKIE_DOMAIN', () => {
  beforeAll(async () => {
    await services.restartAll({ env: { COOKIE_SECURE: 'true', COOKIE_DOMAIN: 'localhost' } })
  })

  it('marks every login cookie Secure, widens only access_token to the domain, and sends HSTS', async () => {
    const username = uniqueUsername()
    const client = new HttpClient()
    expect(
      (await client.sendJson('POST', `${services.bankUrl}/api/register`, { username, password: PASSWORD })).status,
    ).toBe(201)
    const login = await client.sendJson('POST', `${services.bankUrl}/api/login`, { username, password: PASSWORD })
    expect(login.status).toBe(200)
    const access = setCookieAttributes(login, 'access_token') ?? []
    const refresh = setCookieAttributes(login, '__Host-refresh_token') ?? []
    expect(access).toEqual(expect.arrayContaining(['secure', 'httponly', 'samesite=lax', 'path=/', 'domain=localhost']))
    expect(refresh).toEqual(expect.arrayContaining(['secure', 'httponly', 'samesite=lax', 'path=/']))
    expect(refresh.some((attribute) => attribute.startsWith('domain='))).toBe(false)
    // Under the __Host- name only: a browser refuses a __Host- cookie that any sibling host could have set.
    expect(setCookieAttributes(login, 'refresh_token')).toBeUndefined()
    expect(login.headers.get('strict-transport-security')).toMatch(/max-age=\d+/)
  })

  it('clears the cookies on logout with the same Secure and Domain attributes (or the browser keeps them)', async () => {
    const user = await registerAndLogIn(services)
    const response = await user.client.request(`${services.bankUrl}/api/logout`, { method: 'POST' })
    expect(response.status).toBe(204)
    const access = setCookieAttributes(response, 'access_token') ?? []
    const refresh = setCookieAttributes(response, '__Host-refresh_token') ?? []
    expect(access).toEqual(expect.arrayContaining(['secure', 'path=/', 'domain=localhost']))
    expect(refresh).toEqual(expect.arrayContaining(['secure', 'path=/']))
    for (const attributes of [access, refresh]) {
      expect(attributes.some((attribute) => attribute === 'max-age=0' || attribute.startsWith('expires='))).toBe(true)
    }
  })

  it('reads the refresh token only from __Host-refresh_token: the same token planted as refresh_token is ignored', async () => {
    const user = await registerAndLogIn(services)
    const token = user.client.jar.get('__Host-refresh_token') ?? ''
    expect(token).toMatch(REFRESH_TOKEN_FORMAT)
    const planted = new HttpClient()
    planted.jar.set('refresh_token', token)
    expect((await planted.request(`${services.bankUrl}/api/refresh`, { method: 'POST' })).status).toBe(401)
    const own = new HttpClient()
    own.jar.set('__Host-refresh_token', token)
    const refreshed = await own.request(`${services.bankUrl}/api/refresh`, { method: 'POST' })
    expect(refreshed.status).toBe(200)
    expect(own.jar.get('__Host-refresh_token')).toMatch(REFRESH_TOKEN_FORMAT)
    expect(own.jar.get('__Host-refresh_token')).not.toBe(token)
  })

  it('marks the CSRF cookie Secure too', async () => {
    const page = await fetch(`${services.bankUrl}/login`, { signal: AbortSignal.timeout(10_000) })
    expect(setCookieAttributes(page, 'bank_csrf')).toEqual(expect.arrayContaining(['secure', 'httponly']))
  })
})
