// Parallel tabs and refresh-token rotation, across real processes: every presentation of the token rotated most
// recently, within REFRESH_REUSE_GRACE, gets the same successor and a fresh access token; older tokens, or that one
// after the window, revoke the session; a loop is stopped with 429. The grace is shortened to keep the test quick.

import { decodeToken } from '@sso/shared/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, registerAndLogIn, type TestUser } from './security/support.js'
import { bearer, HttpClient, readJson } from './support/http-client.js'
import { Services } from './support/start-services.js'

const reuseGraceSeconds = 3
let services: Services
beforeAll(async () => {
  services = await Services.start({ env: { REFRESH_REUSE_GRACE: String(reuseGraceSeconds) } })
})
afterAll(async () => {
  await services?.stopAll()
})

/** Presents a refresh token as a browser holding nothing else would; returns the answer and the cookies it set. */
async function refreshWith(refreshToken: string) {
  const client = new HttpClient()
  client.jar.set('refresh_token', refreshToken)
  const response = await client.request(`${services.bankUrl}/api/refresh`, { method: 'POST' })
  const body = await readJson(response)
  return { response, body, refreshToken: client.jar.get('refresh_token'), accessToken: client.jar.get('access_token') }
}

/** The session ids the bank lists for the user of this access token. */
async function listedSessions(accessToken: string): Promise<string[]> {
  const response = await new HttpClient().get(`${services.bankUrl}/api/sessions`, bearer(accessToken))
  expect(response.status).toBe(200)
  return ((await readJson(response)).data as Array<{ id: string }>).map((session) => session.id)
}

async function retirementKnows(accessToken: string, user: TestUser) {
  const response = await new HttpClient().get(`${services.retirementUrl}/api/me`, bearer(accessToken))
  return response.status === 200 && (await readJson(response)).data.username === user.username
}

describe('refresh tokens presented in parallel (REFRESH_REUSE_GRACE)', () => {
  it('20 parallel refreshes with one token all succeed with one successor; the session stays one and works', async () => {
    const user = await registerAndLogIn(services)
    const results = await Promise.all(Array.from({ length: 20 }, () => refreshWith(user.refreshToken)))
    expect(results.map(({ response }) => response.status)).toEqual(Array(20).fill(200))
    const successors = new Set(results.map(({ refreshToken }) => refreshToken))
    expect(successors.size).toBe(1)
    const accessTokens = results.map(({ body }) => body.data as string)
    expect(new Set(accessTokens).size).toBe(20)
    for (const token of accessTokens) expect(decodeToken(token).claims.sid).toBe(user.claims.sid)

    expect(await listedSessions(accessTokens[0] ?? '')).toEqual([user.claims.sid])
    expect(await retirementKnows(accessTokens[19] ?? '', user)).toBe(true)
    const next = await refreshWith([...successors][0] ?? '')
    expect(next.response.status).toBe(200)
    expect(await retirementKnows(next.accessToken ?? '', user)).toBe(true)
  })

  it('two silent GET /login with only the refresh cookie both land at return_to with one successor', async () => {
    const user = await registerAndLogIn(services)
    const returnTo = `${services.retirementUrl}/`
    const tabs = [new HttpClient(), new HttpClient()]
    for (const tab of tabs) tab.jar.set('refresh_token', user.refreshToken)
    const responses = await Promise.all(
      tabs.map((tab) => tab.get(`${services.bankUrl}/login?return_to=${encodeURIComponent(returnTo)}`)),
    )
    expect(responses.map((response) => [response.status, response.headers.get('location')])).toEqual([
      [303, returnTo],
      [303, returnTo],
    ])
    const [first, second] = tabs.map((tab) => tab.jar.get('refresh_token'))
    expect(first).toBeDefined()
    expect(second).toBe(first)
    for (const tab of tabs) {
      const greeting = await tab.get(returnTo)
      expect(greeting.status).toBe(200)
      expect(await greeting.text()).toContain(user.username)
    }
    expect(await listedSessions(tabs[0]?.jar.get('access_token') ?? '')).toEqual([user.claims.sid])
  })

  it('the predecessor presented after the window revokes the session, successor included', async () => {
    const user = await registerAndLogIn(services)
    const rotated = await refreshWith(user.refreshToken)
    expect(rotated.response.status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, (reuseGraceSeconds + 0.5) * 1000))
    expect((await refreshWith(user.refreshToken)).response.status).toBe(401)
    expect((await refreshWith(rotated.refreshToken ?? '')).response.status).toBe(401)
    const me = await new HttpClient().get(`${services.bankUrl}/api/me`, bearer(rotated.accessToken ?? ''))
    expect(me.status).toBe(401)
  })

  it('a token two generations old revokes the session, even within the window', async () => {
    const user = await registerAndLogIn(services)
    const second = await refreshWith(user.refreshToken)
    const third = await refreshWith(second.refreshToken ?? '')
    expect(third.response.status).toBe(200)
    expect((await refreshWith(user.refreshToken)).response.status).toBe(401)
    expect((await refreshWith(third.refreshToken ?? '')).response.status).toBe(401)
  })

  it('a refresh loop is stopped with 429 and Retry-After, and logging in again still works', async () => {
    const user = await registerAndLogIn(services)
    let refreshToken = user.refreshToken
    let limited: Response | undefined
    // Bounded: the per-session budget is 30 a minute.
    for (let round = 0; round < 60 && !limited; round++) {
      const result = await refreshWith(refreshToken)
      if (result.response.status === 429) {
        limited = result.response
        expect(result.body).toMatchObject({ status: 'error', code: 'SSO_RATE_LIMITED' })
      } else {
        expect(result.response.status).toBe(200)
        refreshToken = result.refreshToken ?? ''
      }
    }
    expect(limited?.status).toBe(429)
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThan(0)
    const again = await new HttpClient().sendJson('POST', `${services.bankUrl}/api/login`, {
      username: user.username,
      password: PASSWORD,
    })
    expect(again.status).toBe(200)
  })
})
