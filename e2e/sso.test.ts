// The sign-in-once flow over real HTTP: the built services as real processes, one cookie jar per "browser".
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { decodeToken, forgeToken, registerAndLogIn as registerAndLogInAtBank, TEST_PASSWORD } from '@sso/shared/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, HttpClient, postingTo, readCsrfToken, readJson } from './support/http-client.js'
import { E2E_SECRET, Services } from './support/start-services.js'

let services: Services
beforeAll(async () => {
  services = await Services.start()
})
afterAll(async () => {
  await services?.stopAll()
})

const password = TEST_PASSWORD
let userCount = 0

/** A user registered and logged in through the bank's JSON API, with the jar holding both login cookies. */
async function registerAndLogIn(client = new HttpClient()) {
  userCount += 1
  const { id, username, accessToken } = await registerAndLogInAtBank(postingTo(client, services.bankUrl), {
    username: `saver${userCount}_${randomBytes(3).toString('hex')}`,
    describe: () => services.describe(),
  })
  return { client, username, user: { id, username }, accessToken }
}

async function retirementMe(headers: Record<string, string>) {
  return fetch(`${services.retirementUrl}/api/me`, { headers, signal: AbortSignal.timeout(5_000) })
}

describe('one login at the bank, seamless at retirement', () => {
  it('shares the access-token cookie with retirement: /api/me, /api/plan and a saved contribution', async () => {
    const { client, username, user } = await registerAndLogIn()
    expect(client.jar.get('access_token')).toBeDefined()
    expect(client.jar.get('refresh_token')).toBeDefined()
    expect(client.jar.attributesOf('access_token')).toEqual(
      expect.arrayContaining(['httponly', 'samesite=lax', 'path=/']),
    )

    const me = await client.get(`${services.retirementUrl}/api/me`)
    expect(me.status).toBe(200)
    expect(await readJson(me)).toEqual({ status: 'ok', data: { id: user.id, username } })
    const bankMe = await client.get(`${services.bankUrl}/api/me`)
    expect((await readJson(bankMe)).data).toEqual({ id: user.id, username })

    const emptyPlan = await client.get(`${services.retirementUrl}/api/plan`)
    expect(emptyPlan.status).toBe(200)
    expect((await readJson(emptyPlan)).data).toEqual({ balanceCents: 0, contributions: [], more: false })

    // A script on the retirement page would send its own Origin; the cookie authenticates it.
    const contribution = await client.sendJson(
      'POST',
      `${services.retirementUrl}/api/plan/contributions`,
      { amountCents: 2_500 },
      { origin: services.retirementUrl },
    )
    expect(contribution.status).toBe(201)
    const { data: saved } = await readJson(contribution)
    expect(saved).toMatchObject({ amountCents: 2_500 })

    const plan = await client.get(`${services.retirementUrl}/api/plan`)
    expect((await readJson(plan)).data).toEqual({ balanceCents: 2_500, contributions: [saved], more: false })
  })

  it('serves the plan page to the same cookie jar and takes a contribution through its form', async () => {
    const { client, username } = await registerAndLogIn()
    const page = await client.get(`${services.retirementUrl}/`)
    expect(page.status).toBe(200)
    const body = await page.text()
    expect(body).toContain(`Hello, <strong>${username}</strong>`)

    const posted = await client.postForm(`${services.retirementUrl}/contributions`, {
      _csrf: readCsrfToken(body),
      amount: '19.99',
    })
    expect(posted.status).toBe(303)
    expect(posted.headers.get('location')).toBe('/')
    const after = await client.get(`${services.retirementUrl}/`)
    expect(await after.text()).toContain('<strong id="balance">$19.99</strong>')
  })

  it('refuses a cookie-authenticated write from a foreign Origin', async () => {
    const { client } = await registerAndLogIn()
    const response = await client.sendJson(
      'POST',
      `${services.retirementUrl}/api/plan/contributions`,
      { amountCents: 100 },
      { origin: 'http://evil.example' },
    )
    expect(response.status).toBe(403)
  })

  it('sends a browser without a login from the retirement page to the bank login, with return_to', async () => {
    const response = await new HttpClient().get(`${services.retirementUrl}/`)
    expect(response.status).toBe(303)
    const location = new URL(response.headers.get('location') ?? '')
    expect(`${location.origin}${location.pathname}`).toBe(`${services.bankUrl}/login`)
    expect(location.searchParams.get('return_to')).toBe(`${services.retirementUrl}/`)
  })

  it('sends a browser with a live login session from the bank login straight back to retirement', async () => {
    const { client } = await registerAndLogIn()
    const returnTo = `${services.retirementUrl}/`
    const loginPage = `${services.bankUrl}/login?return_to=${encodeURIComponent(returnTo)}`
    const response = await client.get(loginPage)
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe(returnTo)

    // With the access token gone (expired) but the refresh cookie alive: refreshed silently, still no login form.
    client.jar.delete('access_token')
    const refreshed = await client.get(loginPage)
    expect(refreshed.status).toBe(303)
    expect(refreshed.headers.get('location')).toBe(returnTo)
    expect(client.jar.get('access_token')).toBeDefined()
    const page = await client.get(returnTo)
    expect(page.status).toBe(200)
  })
})

describe('through the HTML forms, as a browser without JavaScript', () => {
  it('logs in at the bank form with return_to and lands signed in at retirement', async () => {
    const { username } = await registerAndLogIn()
    const browser = new HttpClient()
    const first = await browser.get(`${services.retirementUrl}/`)
    expect(first.status).toBe(303)
    const loginUrl = first.headers.get('location')!
    const form = await browser.get(loginUrl)
    expect(form.status).toBe(200)
    const posted = await browser.postForm(`${services.bankUrl}/login`, {
      _csrf: readCsrfToken(await form.text()),
      username,
      password,
      return_to: `${services.retirementUrl}/`,
    })
    expect(posted.status).toBe(303)
    expect(posted.headers.get('location')).toBe(`${services.retirementUrl}/`)
    const page = await browser.get(`${services.retirementUrl}/`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain(`Hello, <strong>${username}</strong>`)
  })

  it('refuses a retirement form post without its CSRF token', async () => {
    const { client } = await registerAndLogIn()
    await client.get(`${services.retirementUrl}/`)
    const response = await client.postForm(`${services.retirementUrl}/contributions`, { amount: '10' })
    expect(response.status).toBe(403)
    const plan = await client.get(`${services.retirementUrl}/api/plan`)
    expect((await readJson(plan)).data.balanceCents).toBe(0)
  })
})

describe('API clients with a Bearer token', () => {
  it('use the token from /api/login at retirement without any cookie', async () => {
    const { user, accessToken } = await registerAndLogIn()
    const api = new HttpClient()
    const me = await api.get(`${services.retirementUrl}/api/me`, bearer(accessToken))
    expect(me.status).toBe(200)
    expect((await readJson(me)).data.id).toBe(user.id)

    const contribution = await api.sendJson(
      'POST',
      `${services.retirementUrl}/api/plan/contributions`,
      { amountCents: 100_000_000 },
      bearer(accessToken),
    )
    expect(contribution.status).toBe(201)
    const plan = await api.get(`${services.retirementUrl}/api/plan`, bearer(accessToken))
    expect((await readJson(plan)).data.balanceCents).toBe(100_000_000)
  })

  it('get 401 JSON with WWW-Authenticate: Bearer without a token', async () => {
    const response = await retirementMe({})
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe('Bearer')
    expect(await readJson(response)).toMatchObject({ status: 'error' })
  })
})

describe('refresh and logout', () => {
  it('refresh gives a new access token that retirement accepts; an older refresh token then ends the session', async () => {
    const { client, accessToken } = await registerAndLogIn()
    const oldRefreshToken = client.jar.get('refresh_token')!
    const refreshed = await client.sendJson('POST', `${services.bankUrl}/api/refresh`)
    expect(refreshed.status).toBe(200)
    const { data: newAccessToken } = await readJson(refreshed)
    expect(newAccessToken).not.toBe(accessToken)
    expect(client.jar.get('access_token')).toBe(newAccessToken)
    expect(client.jar.get('refresh_token')).not.toBe(oldRefreshToken)
    expect((await retirementMe(bearer(newAccessToken))).status).toBe(200)
    expect((await client.get(`${services.retirementUrl}/api/plan`)).status).toBe(200)

    // Theft detection: a rotated refresh token two generations old (no parallel tab's grace covers it) revokes the
    // whole login session.
    expect((await client.sendJson('POST', `${services.bankUrl}/api/refresh`)).status).toBe(200)
    const thief = new HttpClient()
    thief.jar.set('refresh_token', oldRefreshToken)
    expect((await thief.sendJson('POST', `${services.bankUrl}/api/refresh`)).status).toBe(401)
    expect((await client.sendJson('POST', `${services.bankUrl}/api/refresh`)).status).toBe(401)
  })

  it('logout revokes the refresh session, and retirement refuses a kept copy of the access token within 5 s', async () => {
    const { client, accessToken } = await registerAndLogIn()
    const refreshToken = client.jar.get('refresh_token')!
    const logout = await client.sendJson('POST', `${services.bankUrl}/api/logout`)
    expect(logout.status).toBe(204)
    expect(client.jar.get('access_token')).toBeUndefined()
    expect(client.jar.get('refresh_token')).toBeUndefined()

    const replay = new HttpClient()
    replay.jar.set('refresh_token', refreshToken)
    expect((await replay.sendJson('POST', `${services.bankUrl}/api/refresh`)).status).toBe(401)
    // The cleared browser is logged out of retirement too: no cookie, so the page sends it to the bank.
    expect((await client.get(`${services.retirementUrl}/`)).status).toBe(303)

    // Single logout: retirement never asks the bank, but the bank's back-channel notice reaches it, so a copy of the
    // access token kept elsewhere is refused there within seconds, long before its exp (e2e/single-logout.test.ts).
    const deadline = Date.now() + 5_000
    let status = (await retirementMe(bearer(accessToken))).status
    while (status !== 401 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      status = (await retirementMe(bearer(accessToken))).status
    }
    expect(status, services.describe()).toBe(401)
    const { claims } = decodeToken(accessToken)
    expect((claims.exp as number) * 1000).toBeGreaterThan(Date.now())
  })
})

describe('tokens retirement refuses', () => {
  it('refuses a token signed with another secret, even under the real kid', async () => {
    const { accessToken } = await registerAndLogIn()
    const { header, claims } = decodeToken(accessToken)
    const otherSecret = randomBytes(48).toString('base64url')
    for (const forged of [
      forgeToken(header, claims, otherSecret, 'sha256'),
      forgeToken({ ...header, kid: 'another-key' }, claims, otherSecret, 'sha256'),
      forgeToken({ alg: 'HS256', typ: 'JWT' }, claims, otherSecret, 'sha256'),
    ]) {
      const response = await retirementMe(bearer(forged))
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    }
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${
      accessToken.split('.')[1]
    }.`
    expect((await retirementMe(bearer(unsigned))).status).toBe(401)
  })
})

// The tests below stop and restart processes; they run last and in order.
describe('operations', () => {
  it('retirement refuses to start in production without a usable secret, naming the variable', async () => {
    for (const overrides of [{ JWT_SECRET: undefined }, { JWT_SECRET: 'changeme' }]) {
      const { exitCode, stderr } = await services.runExpectingExit('retirement', overrides)
      expect(exitCode).not.toBe(0)
      expect(stderr.trim().split('\n')).toHaveLength(1)
      expect(stderr).toContain('JWT_SECRET')
    }
  })

  it('retirement keeps serving valid tokens while the bank is stopped', async () => {
    const { client, user } = await registerAndLogIn()
    expect(await services.stopOne('bank')).toBe(0)
    try {
      const me = await client.get(`${services.retirementUrl}/api/me`)
      expect(me.status).toBe(200)
      expect((await readJson(me)).data.id).toBe(user.id)
      const contribution = await client.sendJson('POST', `${services.retirementUrl}/api/plan/contributions`, {
        amountCents: 700,
      })
      expect(contribution.status).toBe(201)
      expect((await client.get(`${services.retirementUrl}/`)).status).toBe(200)
    } finally {
      await services.startOne('bank')
    }
  })

  it('accepts tokens signed with a secret now listed in JWT_PREVIOUS_SECRETS, and refuses them once it is not', async () => {
    const { accessToken: oldToken } = await registerAndLogIn()
    const newSecret = randomBytes(48).toString('base64url')
    await services.restartAll({ env: { JWT_SECRET: newSecret, JWT_PREVIOUS_SECRETS: E2E_SECRET } })

    expect((await retirementMe(bearer(oldToken))).status).toBe(200)
    const { accessToken: newToken } = await registerAndLogIn()
    expect(decodeToken(newToken).header.kid).not.toBe(decodeToken(oldToken).header.kid)
    expect((await retirementMe(bearer(newToken))).status).toBe(200)

    // Rotation finished: retirement reads only the new key, from a file as in a container (JWT_SECRET_FILE).
    const secretFile = join(services.dataDir, 'jwt-secret')
    writeFileSync(secretFile, `${newSecret}\n`, { mode: 0o600 })
    await services.restart('retirement', {
      JWT_SECRET: undefined,
      JWT_PREVIOUS_SECRETS: undefined,
      JWT_SECRET_FILE: secretFile,
    })
    expect((await retirementMe(bearer(newToken))).status).toBe(200)
    expect((await retirementMe(bearer(oldToken))).status).toBe(401)
  })

  it('finishes an in-flight request on SIGTERM and exits 0', async () => {
    const { username } = await registerAndLogIn()
    const bank = services.bank
    const linesBefore = bank.output.length
    // A login spends real time in argon2, so it is still in flight when the signal arrives.
    const login = fetch(`${services.bankUrl}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
      signal: AbortSignal.timeout(10_000),
    })
    await waitFor(() => bank.output.slice(linesBefore).some((line) => line.includes('/api/login')), 5_000)
    const exitCode = bank.stop()
    expect((await login).status).toBe(200)
    expect(await exitCode).toBe(0)
    await services.startOne('bank')
  })

  it('both services exit 0 on SIGTERM', async () => {
    expect(await services.stopAll()).toEqual({ bank: 0, retirement: 0 })
  })
})

/** Polls a condition every 10 ms, up to a bounded time. */
async function waitFor(condition: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms\n${services.describe()}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
