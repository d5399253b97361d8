// Login sessions and refresh tokens (ASVS V3.3, V3.5; OAuth 2.0 Security BCP §4.14 on refresh-token rotation and
// reuse detection). Each case asserts the refusal and that no new token was handed out.

import { decodeToken } from '@sso/shared/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, HttpClient, readCsrfToken, readJson } from '../support/http-client.js'
import { Services } from '../support/start-services.js'
import { PASSWORD, REFRESH_TOKEN_FORMAT, registerAndLogIn } from './support.js'

let services: Services
beforeAll(async () => {
  services = await Services.start()
})
afterAll(async () => {
  await services?.stopAll()
})

// `<sid>.<generation>.<256 random bits>.<MAC>`: opaque to clients; the bank recognises a session's older tokens.

/** Presents a refresh token as a fresh browser would, holding nothing else. */
function refreshWith(refreshToken: string) {
  return new HttpClient().request(`${services.bankUrl}/api/refresh`, {
    method: 'POST',
    headers: { cookie: `refresh_token=${refreshToken}` },
  })
}

/** A refused refresh: 401, and no token in the body or a cookie. */
async function expectRefreshRefused(response: Response) {
  const text = await response.text()
  expect(response.status, text).toBe(401)
  expect(JSON.parse(text)).toMatchObject({ status: 'error', code: 'SSO_REFRESH_INVALID' })
  expect(text).not.toMatch(/eyJ/)
  const issued = response.headers
    .getSetCookie()
    .filter((cookie) => /^(access|refresh)_token=[^;]+/.test(cookie) && !/^(access|refresh)_token=;/.test(cookie))
  expect(issued).toEqual([])
}

describe('refresh tokens', () => {
  it('are opaque, 256-bit, different for every login, and not JWTs', async () => {
    const first = await registerAndLogIn(services)
    const second = await registerAndLogIn(services)
    for (const token of [first.refreshToken, second.refreshToken]) {
      expect(token).toMatch(REFRESH_TOKEN_FORMAT)
      expect(token).not.toMatch(/^eyJ/)
    }
    expect(first.refreshToken).not.toBe(second.refreshToken)
  })

  it('are rotated on every use, the old one dying with the rotation', async () => {
    const user = await registerAndLogIn(services)
    const rotated = await refreshWith(user.refreshToken)
    expect(rotated.status).toBe(200)
    const next = new HttpClient()
    next.jar.store(rotated)
    expect(next.jar.get('refresh_token')).toMatch(REFRESH_TOKEN_FORMAT)
    expect(next.jar.get('refresh_token')).not.toBe(user.refreshToken)
    const { claims } = decodeToken((await readJson(rotated)).data)
    expect(claims).toMatchObject({ sub: user.id, sid: user.claims.sid })
  })

  it('presented again two rotations later, revoke the whole session: the newest token dies too', async () => {
    const user = await registerAndLogIn(services)
    const holder = new HttpClient()
    holder.jar.store(await refreshWith(user.refreshToken))
    holder.jar.store(await refreshWith(holder.jar.get('refresh_token') ?? ''))
    const newest = holder.jar.get('refresh_token') ?? ''
    // The thief replays the stolen token: no parallel tab's grace covers a token two generations old.
    await expectRefreshRefused(await refreshWith(user.refreshToken))
    // The legitimate holder's newer token is revoked with the session.
    await expectRefreshRefused(await refreshWith(newest))
  })

  it('of a revoked session do not sign the browser in silently at GET /login', async () => {
    const user = await registerAndLogIn(services)
    const browser = new HttpClient()
    browser.jar.store(await refreshWith(user.refreshToken))
    browser.jar.store(await refreshWith(browser.jar.get('refresh_token') ?? ''))
    browser.jar.delete('access_token')
    await refreshWith(user.refreshToken) // reuse of a token two generations old: the session is revoked
    const response = await browser.get(`${services.bankUrl}/login`)
    expect(response.status).toBe(200)
    expect(await response.text()).toContain('action="/login"')
    expect(browser.jar.get('access_token')).toBeUndefined()
  })

  it('presented by several parallel requests all get the same successor: the session never forks', async () => {
    const user = await registerAndLogIn(services)
    const responses = await Promise.all(Array.from({ length: 5 }, () => refreshWith(user.refreshToken)))
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 200, 200])
    const successors = responses.map((response) => {
      const jar = new HttpClient().jar
      jar.store(response)
      return jar.get('refresh_token')
    })
    expect(new Set(successors).size).toBe(1)
  })

  it('are refused as access tokens, and access tokens as refresh tokens', async () => {
    const user = await registerAndLogIn(services)
    const asBearer = await new HttpClient().get(`${services.bankUrl}/api/me`, bearer(user.refreshToken))
    expect(asBearer.status).toBe(401)
    expect(await asBearer.text()).not.toContain(user.username)
    await expectRefreshRefused(await refreshWith(user.accessToken))
  })

  it.each([
    ['empty', ''],
    ['the right length but unknown', 'A'.repeat(43)],
    ['too long', 'A'.repeat(4096)],
    ['SQL', "' OR 1=1 --"],
  ])('that are %s are refused (401)', async (_name, token) => {
    await expectRefreshRefused(await refreshWith(encodeURIComponent(token)))
  })
})

describe('logout', () => {
  it('over the API revokes the refresh token and clears both cookies', async () => {
    const user = await registerAndLogIn(services)
    const response = await user.client.request(`${services.bankUrl}/api/logout`, { method: 'POST' })
    expect(response.status).toBe(204)
    expect(user.client.jar.get('access_token')).toBeUndefined()
    expect(user.client.jar.get('refresh_token')).toBeUndefined()
    await expectRefreshRefused(await refreshWith(user.refreshToken))
  })

  it('through the form revokes the refresh token and lands on /login', async () => {
    const user = await registerAndLogIn(services)
    const dashboard = await user.client.get(`${services.bankUrl}/`)
    const response = await user.client.postForm(`${services.bankUrl}/logout`, {
      _csrf: readCsrfToken(await dashboard.text()),
    })
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe('/login')
    await expectRefreshRefused(await refreshWith(user.refreshToken))
  })

  it('with only a Bearer token (an API client) revokes that session', async () => {
    const user = await registerAndLogIn(services)
    const response = await new HttpClient().request(`${services.bankUrl}/api/logout`, {
      method: 'POST',
      headers: bearer(user.accessToken),
    })
    expect(response.status).toBe(204)
    await expectRefreshRefused(await refreshWith(user.refreshToken))
  })

  it("ends only the session it belongs to: the same user's other device and another user keep theirs", async () => {
    const user = await registerAndLogIn(services)
    const otherDevice = new HttpClient()
    const login = await otherDevice.sendJson('POST', `${services.bankUrl}/api/login`, {
      username: user.username,
      password: PASSWORD,
    })
    expect(login.status).toBe(200)
    const bystander = await registerAndLogIn(services)
    expect((await user.client.request(`${services.bankUrl}/api/logout`, { method: 'POST' })).status).toBe(204)
    expect((await refreshWith(otherDevice.jar.get('refresh_token') ?? '')).status).toBe(200)
    expect((await refreshWith(bystander.refreshToken)).status).toBe(200)
  })
})

describe('session fixation', () => {
  it('a refresh cookie planted before login is replaced, never adopted', async () => {
    const user = await registerAndLogIn(services)
    const browser = new HttpClient()
    const planted = 'P'.repeat(43)
    browser.jar.set('refresh_token', planted)
    const csrf = readCsrfToken(await (await browser.get(`${services.bankUrl}/login`)).text())
    const response = await browser.postForm(`${services.bankUrl}/login`, {
      _csrf: csrf,
      username: user.username,
      password: PASSWORD,
    })
    expect(response.status).toBe(303)
    expect(browser.jar.get('refresh_token')).toMatch(REFRESH_TOKEN_FORMAT)
    expect(browser.jar.get('refresh_token')).not.toBe(planted)
    await expectRefreshRefused(await refreshWith(planted))
  })

  it("logging in again in the same browser ends the browser's previous session", async () => {
    const user = await registerAndLogIn(services)
    const again = await user.client.sendJson('POST', `${services.bankUrl}/api/login`, {
      username: user.username,
      password: PASSWORD,
    })
    expect(again.status).toBe(200)
    await expectRefreshRefused(await refreshWith(user.refreshToken))
  })
})

describe('signing out from retirement (its "Sign out" link to the bank)', () => {
  /** A browser logged in through the bank's form, holding cookies for both apps, on the retirement plan page. */
  async function browserOnPlanPage() {
    const user = await registerAndLogIn(services)
    const browser = new HttpClient()
    const csrf = readCsrfToken(await (await browser.get(`${services.bankUrl}/login`)).text())
    const login = await browser.postForm(`${services.bankUrl}/login`, {
      _csrf: csrf,
      username: user.username,
      password: PASSWORD,
    })
    expect(login.status).toBe(303)
    const plan = await browser.get(`${services.retirementUrl}/`)
    expect(plan.status).toBe(200)
    const href = /<a id="sign-out" href="([^"]+)">Sign out<\/a>/.exec(await plan.text())?.[1]?.replace(/&amp;/g, '&')
    expect(href).toBeDefined()
    return { browser, signOutUrl: new URL(href ?? '') }
  }

  it('the link is a GET that only shows a confirm form: nobody is signed out by following it', async () => {
    const { browser, signOutUrl } = await browserOnPlanPage()
    expect(signOutUrl.origin).toBe(new URL(services.bankUrl).origin)
    expect(signOutUrl.pathname).toBe('/logout')
    const confirm = await browser.get(signOutUrl.href)
    expect(confirm.status).toBe(200)
    const page = await confirm.text()
    expect(page).toContain('<form method="post" action="/logout">')
    expect(page).toContain(`href="${services.retirementUrl}/"`)
    expect(confirm.headers.getSetCookie().some((cookie) => /^(access_token|refresh_token)=/.test(cookie))).toBe(false)
    expect((await browser.get(`${services.retirementUrl}/`)).status).toBe(200)
    expect((await browser.get(`${services.bankUrl}/api/me`)).status).toBe(200)
  })

  it('the confirm form without its CSRF token is refused (403) and the session lives on', async () => {
    const { browser, signOutUrl } = await browserOnPlanPage()
    await browser.get(signOutUrl.href)
    expect((await browser.postForm(`${services.bankUrl}/logout`, {})).status).toBe(403)
    expect((await browser.get(`${services.retirementUrl}/`)).status).toBe(200)
  })

  it('the confirm form posted with its CSRF token signs out of both apps and ends at the bank login', async () => {
    const { browser, signOutUrl } = await browserOnPlanPage()
    const refreshToken = browser.jar.get('refresh_token') ?? ''
    const confirm = await browser.get(signOutUrl.href)
    const response = await browser.postForm(`${services.bankUrl}/logout`, {
      _csrf: readCsrfToken(await confirm.text()),
    })
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe('/login')
    expect(browser.jar.get('access_token')).toBeUndefined()
    expect(browser.jar.get('refresh_token')).toBeUndefined()
    await expectRefreshRefused(await refreshWith(refreshToken))
    const plan = await browser.get(`${services.retirementUrl}/`)
    expect(plan.status).toBe(303)
    expect(plan.headers.get('location')?.startsWith(`${services.bankUrl}/login?`)).toBe(true)
  })
})
