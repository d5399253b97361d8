// Single logout across real processes: a session ended at the bank is refused by retirement within seconds, while
// retirement still checks tokens on its own (it only ever hears from the bank through the back-channel notice).
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  decodeToken,
  forgeLogoutToken,
  logIn as logInAtBank,
  register as registerAtBank,
  TEST_PASSWORD,
} from '@sso/shared/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, HttpClient, postingTo, readJson } from './support/http-client.js'
import { E2E_SECRET, Services } from './support/start-services.js'

/** docs/spec.md#single-logout: a revoked session's tokens are refused by both services within this. */
const SINGLE_LOGOUT_BOUND_MS = 5_000
/** docs/spec.md#single-logout: the bound for a notice to land once retirement is reachable again. */
const REDELIVERY_BOUND_MS = 15_000
const POLL_INTERVAL_MS = 100
const artifactsDir = join(dirname(fileURLToPath(import.meta.url)), 'artifacts')

let services: Services
const measuredMs: Record<string, number> = {}
beforeAll(async () => {
  services = await Services.start()
})
afterAll(async () => {
  await services?.stopAll()
  if (Object.keys(measuredMs).length > 0) {
    console.info(`single logout, measured: ${JSON.stringify(measuredMs)}`)
    mkdirSync(artifactsDir, { recursive: true })
    writeFileSync(join(artifactsDir, 'single-logout-timings.json'), `${JSON.stringify(measuredMs, null, 2)}\n`)
  }
})

async function register(client = new HttpClient()) {
  const username = `leaver_${randomBytes(4).toString('hex')}`
  const bank = postingTo(client, services.bankUrl)
  const id = await registerAtBank(bank, { username, password: TEST_PASSWORD }, { describe: () => services.describe() })
  return { client, username, id }
}

/** A new login session (a new "device") for the user: its own cookie jar and access token. */
async function logIn(username: string) {
  const client = new HttpClient()
  const bank = postingTo(client, services.bankUrl)
  const credentials = { username, password: TEST_PASSWORD }
  const { accessToken } = await logInAtBank(bank, credentials, { describe: () => services.describe() })
  return { client, accessToken, sid: decodeToken(accessToken).claims.sid as string }
}

async function retirementStatus(accessToken: string): Promise<number> {
  const response = await fetch(`${services.retirementUrl}/api/me`, {
    headers: bearer(accessToken),
    signal: AbortSignal.timeout(2_000),
  })
  await response.body?.cancel()
  return response.status
}

/**
 * Polls retirement with the token every 100 ms until it answers 401, up to `boundMs`; resolves with how long that
 * took, from `since`. Fails with both services' output if the bound passes.
 */
async function msUntilRefused(accessToken: string, since: number, boundMs = SINGLE_LOGOUT_BOUND_MS): Promise<number> {
  const deadline = since + boundMs
  for (;;) {
    let status: number | string
    try {
      status = await retirementStatus(accessToken)
    } catch (error) {
      status = (error as Error).message
    }
    const now = Date.now()
    if (status === 401) return now - since
    if (now >= deadline) {
      throw new Error(
        `still ${status} at retirement ${now - since} ms later (bound ${boundMs})\n${services.describe()}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_INTERVAL_MS, Math.max(0, deadline - now))))
  }
}

/** A logout token signed with any secret and any header, the way only the bank (holding the key) should. */
function logoutToken(
  kid: unknown,
  claims: Record<string, unknown>,
  { secret = E2E_SECRET, typ = 'logout+jwt' }: { secret?: string; typ?: string } = {},
) {
  return forgeLogoutToken(secret, { header: { typ, kid }, claims })
}

async function postBackchannel(token: string, contentType = 'application/x-www-form-urlencoded') {
  const body = contentType.includes('json')
    ? JSON.stringify({ logout_token: token })
    : new URLSearchParams({ logout_token: token }).toString()
  return fetch(`${services.retirementUrl}/backchannel/logout`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
    signal: AbortSignal.timeout(5_000),
  })
}

describe('single logout: ended at the bank, refused at retirement within 5 s', () => {
  it('logout at the bank: the same access token is refused by retirement within the bound', async () => {
    const { username } = await register()
    const session = await logIn(username)
    expect(await retirementStatus(session.accessToken)).toBe(200)

    const logout = await session.client.sendJson(
      'POST',
      `${services.bankUrl}/api/logout`,
      undefined,
      bearer(session.accessToken),
    )
    const loggedOutAt = Date.now()
    expect(logout.status).toBe(204)
    // The bank refuses it at once, from its own table.
    const bankMe = await fetch(`${services.bankUrl}/api/me`, { headers: bearer(session.accessToken) })
    expect(bankMe.status).toBe(401)

    measuredMs.logout = await msUntilRefused(session.accessToken, loggedOutAt)
    expect(measuredMs.logout).toBeLessThanOrEqual(SINGLE_LOGOUT_BOUND_MS)
    const refused = await fetch(`${services.retirementUrl}/api/me`, { headers: bearer(session.accessToken) })
    expect(refused.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
  })

  it('"log out everywhere" refuses every session of the user; other users keep theirs', async () => {
    const { username } = await register()
    const sessions = [await logIn(username), await logIn(username), await logIn(username)]
    const other = await logIn((await register()).username)

    const response = await sessions[1]!.client.sendJson('POST', `${services.bankUrl}/api/logout`, { everywhere: true })
    const loggedOutAt = Date.now()
    expect(response.status).toBe(204)
    const times = []
    for (const session of sessions) times.push(await msUntilRefused(session.accessToken, loggedOutAt))
    measuredMs.everywhere = Math.max(...times)
    expect(await retirementStatus(other.accessToken)).toBe(200)
  })

  it('deleting one session from the list refuses only that one', async () => {
    const { username } = await register()
    const kept = await logIn(username)
    const ended = await logIn(username)
    const bystander = await logIn((await register()).username)

    const list = await kept.client.get(`${services.bankUrl}/api/sessions`)
    expect(list.status).toBe(200)
    const listed = (await readJson(list)).data as Array<{ id: string; current: boolean }>
    expect(listed.map((session) => session.id).sort()).toEqual([kept.sid, ended.sid].sort())
    expect(listed.find((session) => session.current)?.id).toBe(kept.sid)

    // Cookie-authenticated, no body; a script on the bank's page sends the bank's own Origin.
    const deleted = await kept.client.request(`${services.bankUrl}/api/sessions/${ended.sid}`, {
      method: 'DELETE',
      headers: { origin: services.bankUrl },
    })
    const deletedAt = Date.now()
    expect(deleted.status).toBe(204)
    measuredMs.deleteOne = await msUntilRefused(ended.accessToken, deletedAt)
    expect(await retirementStatus(kept.accessToken)).toBe(200)
    expect(await retirementStatus(bystander.accessToken)).toBe(200)
    const after = await kept.client.get(`${services.bankUrl}/api/sessions`)
    expect(((await readJson(after)).data as Array<{ id: string }>).map((session) => session.id)).toEqual([kept.sid])
  })

  it('refresh-token reuse ends the session at retirement too', async () => {
    const { username } = await register()
    const session = await logIn(username)
    const oldRefreshToken = session.client.jar.get('refresh_token')!
    const refreshed = await session.client.sendJson('POST', `${services.bankUrl}/api/refresh`)
    expect(refreshed.status).toBe(200)
    const newAccessToken = (await readJson(refreshed)).data as string
    expect(await retirementStatus(newAccessToken)).toBe(200)
    // Refreshed once more, the stolen token is two generations old: no parallel tab's grace covers it.
    expect((await session.client.sendJson('POST', `${services.bankUrl}/api/refresh`)).status).toBe(200)

    const thief = new HttpClient()
    thief.jar.set('refresh_token', oldRefreshToken)
    expect((await thief.sendJson('POST', `${services.bankUrl}/api/refresh`)).status).toBe(401)
    const reusedAt = Date.now()
    measuredMs.refreshReuse = await msUntilRefused(newAccessToken, reusedAt)
    expect(await retirementStatus(session.accessToken)).toBe(401)
  })
})

describe('the back-channel endpoint refuses what the bank did not send (400)', () => {
  it('refuses a forged logout token (another key) and ends nothing', async () => {
    const session = await logIn((await register()).username)
    const kid = decodeToken(session.accessToken).header.kid
    const otherSecret = randomBytes(48).toString('base64url')
    for (const forged of [
      logoutToken(kid, { sid: session.sid }, { secret: otherSecret }),
      logoutToken('another-key', { sid: session.sid }, { secret: otherSecret }),
    ]) {
      expect((await postBackchannel(forged)).status).toBe(400)
    }
    expect(await retirementStatus(session.accessToken)).toBe(200)
  })

  it('refuses a wrongly typed token: typ JWT, or an access token itself', async () => {
    const session = await logIn((await register()).username)
    const kid = decodeToken(session.accessToken).header.kid
    expect((await postBackchannel(logoutToken(kid, { sid: session.sid }, { typ: 'JWT' }))).status).toBe(400)
    expect((await postBackchannel(session.accessToken)).status).toBe(400)
    expect((await postBackchannel(logoutToken(kid, { sid: session.sid }), 'application/json')).status).toBe(415)
    expect(await retirementStatus(session.accessToken)).toBe(200)
    // And a logout token is not an access token.
    expect(await retirementStatus(logoutToken(kid, { sid: session.sid, sub: randomUUID() }))).toBe(401)
  })

  it('accepts a well-signed notice once, and refuses its replay (same jti)', async () => {
    const session = await logIn((await register()).username)
    const token = logoutToken(decodeToken(session.accessToken).header.kid, { sid: session.sid })
    expect((await postBackchannel(token)).status).toBe(200)
    expect(await retirementStatus(session.accessToken)).toBe(401)
    expect((await postBackchannel(token)).status).toBe(400)
  })
})

// Stops and starts retirement: runs last.
describe('retirement unreachable during the logout', () => {
  it('still ends up refusing the token, within 15 s of retirement being reachable again', async () => {
    const { username } = await register()
    const session = await logIn(username)
    const unaffected = await logIn(username)
    expect(await retirementStatus(session.accessToken)).toBe(200)

    expect(await services.stopOne('retirement')).toBe(0)
    const linesBefore = services.bank.output.length
    const logout = await session.client.sendJson('POST', `${services.bankUrl}/api/logout`)
    expect(logout.status).toBe(204)
    // Wait (bounded) until the bank has tried and failed at least once, so the notice really is a retry.
    const triedBy = Date.now() + 5_000
    while (!services.bank.output.slice(linesBefore).some((line) => line.includes('logout notice not delivered yet'))) {
      if (Date.now() > triedBy) throw new Error(`the bank never tried to deliver\n${services.describe()}`)
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS))
    }

    // Long enough for the retries after 0.5 s and 1.5 s to fail too.
    await new Promise((resolve) => setTimeout(resolve, 2_500))

    await services.startOne('retirement')
    const backAt = Date.now()
    measuredMs.afterRetirementRestart = await msUntilRefused(session.accessToken, backAt, REDELIVERY_BOUND_MS)
    expect(measuredMs.afterRetirementRestart).toBeLessThanOrEqual(REDELIVERY_BOUND_MS)
    expect(await retirementStatus(unaffected.accessToken)).toBe(200)
    // Its retries failed quietly: one warning for the notice, not one per attempt.
    const warnings = services.bank.output.slice(linesBefore).filter((line) => line.includes('not delivered yet'))
    expect(warnings).toHaveLength(1)
  })
})
