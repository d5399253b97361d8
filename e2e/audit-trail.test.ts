// The audit trail and the metrics across real processes: one login at the bank, its use at retirement and its
// logout, followed through both services' stdout by its `sid`, each step a JSON line with a stable `event`; and
// each service's /metrics, scraped from its management port, moved by the same steps. Nothing secret in any line.
import { decodeToken, type Scrape, scrapeMetrics, TEST_PASSWORD } from '@sso/shared/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registerAndLogIn } from './security/support.js'
import { bearer, HttpClient } from './support/http-client.js'
import { findFreePorts, type ServiceName, Services } from './support/start-services.js'

const SINGLE_LOGOUT_BOUND_MS = 5_000

interface AuditLine {
  event: string
  outcome: string
  reqId?: string
  sub?: string
  sid?: string
  reason?: string
  clientAddress?: string
  [field: string]: unknown
}

let services: Services
const managementPorts: Record<ServiceName, number> = { bank: 0, retirement: 0 }
let user: Awaited<ReturnType<typeof registerAndLogIn>>
let sid = ''

/** Every audit line a service printed: JSON lines with an `event`. */
function auditLines(name: ServiceName): AuditLine[] {
  return services[name].output
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Partial<AuditLine>)
    .filter((line): line is AuditLine => typeof line.event === 'string')
}

const scrape = (name: ServiceName): Promise<Scrape> =>
  scrapeMetrics(`http://127.0.0.1:${managementPorts[name]}/metrics`)

beforeAll(async () => {
  const [bankManagement = 0, retirementManagement = 0] = await findFreePorts(2)
  Object.assign(managementPorts, { bank: bankManagement, retirement: retirementManagement })
  services = await Services.start({
    bankEnv: { MANAGEMENT_PORT: String(bankManagement) },
    retirementEnv: { MANAGEMENT_PORT: String(retirementManagement) },
  })
  // A failed login first, by the same user (a wrong password) and by nobody (an unknown name).
  user = await registerAndLogIn(services)
  sid = String(decodeToken(user.accessToken).claims.sid)
  expect((await user.client.get(`${services.retirementUrl}/api/plan`)).status).toBe(200)
  const wrong = await new HttpClient().sendJson('POST', `${services.bankUrl}/api/login`, {
    username: user.username,
    password: `${TEST_PASSWORD} but wrong`,
  })
  expect(wrong.status).toBe(401)
  expect((await user.client.request(`${services.bankUrl}/api/logout`, { method: 'POST' })).status).toBe(204)
  // Retirement hears of the logout through the back channel, and refuses the token from then on.
  const deadline = Date.now() + SINGLE_LOGOUT_BOUND_MS
  let status = 200
  while (status === 200 && Date.now() < deadline) {
    status = (await fetch(`${services.retirementUrl}/api/me`, { headers: bearer(user.accessToken) })).status
    if (status === 200) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  expect(status, services.describe()).toBe(401)
  // Let the last lines arrive from the child processes' pipes.
  await new Promise((resolve) => setTimeout(resolve, 200))
})
afterAll(async () => {
  await services?.stopAll()
})

describe('the audit trail', () => {
  it('follows one login session through both services by its sid', () => {
    const bank = auditLines('bank').filter((line) => line.sid === sid)
    const retirement = auditLines('retirement').filter((line) => line.sid === sid)
    expect(
      bank.map((line) => line.event),
      services.describe(),
    ).toEqual(['login.succeeded', 'session.revoked', 'logout.notice_delivered'])
    expect(
      retirement.map((line) => line.event),
      services.describe(),
    ).toEqual(['backchannel.revocation_applied', 'token.refused'])
    for (const line of [...bank, ...retirement]) expect(line.sub, line.event).toBe(user.id)
    expect(bank[1]).toMatchObject({ reason: 'logout', outcome: 'success' })
    expect(retirement[1]).toMatchObject({ reason: 'revoked', outcome: 'failure' })
  })

  it('gives each request-borne event its request id and the client address', () => {
    const lines = [...auditLines('bank'), ...auditLines('retirement')].filter(
      (line) => line.event !== 'logout.notice_delivered',
    )
    expect(lines.length).toBeGreaterThanOrEqual(6)
    for (const line of lines) {
      expect(line.reqId, line.event).toMatch(/\S/)
      expect(line.clientAddress, line.event).toMatch(/^(127\.0\.0\.1|::1|::ffff:127\.0\.0\.1)$/)
    }
  })

  it('records the failed login with the account it aimed at, and never the username typed', () => {
    const failed = auditLines('bank').filter((line) => line.event === 'login.failed')
    expect(failed).toEqual([expect.objectContaining({ sub: user.id, reason: 'wrong_password', outcome: 'failure' })])
    expect(auditLines('bank').filter((line) => line.event === 'user.registered')).toEqual([
      expect.objectContaining({ sub: user.id }),
    ])
  })

  it('holds no password, token or username in any line', () => {
    const secrets = [TEST_PASSWORD, user.accessToken, user.refreshToken, user.accessToken.split('.')[2] ?? '']
    for (const name of ['bank', 'retirement'] as const) {
      for (const line of auditLines(name)) {
        const text = JSON.stringify(line)
        for (const secret of secrets) expect(text).not.toContain(secret)
        expect(text).not.toContain(user.username)
        expect(text).not.toMatch(/eyJ[\w-]+\.eyJ/)
      }
    }
  })
})

describe('the metrics', () => {
  it('are served on each management port, and never on the public ones', async () => {
    for (const url of [services.bankUrl, services.retirementUrl]) {
      expect((await fetch(`${url}/metrics`)).status).toBe(404)
    }
    expect((await scrape('bank')).value('process_cpu_user_seconds_total', { service: 'bank' })).toBeGreaterThan(0)
    const retirement = await scrape('retirement')
    expect(retirement.value('process_cpu_user_seconds_total', { service: 'retirement' })).toBeGreaterThan(0)
  })

  it('moved with the same steps', async () => {
    const bank = await scrape('bank')
    expect(bank.value('sso_logins_total', { outcome: 'succeeded' })).toBe(1)
    expect(bank.value('sso_logins_total', { outcome: 'failed' })).toBe(1)
    expect(bank.value('sso_registrations_total', { outcome: 'created' })).toBe(1)
    expect(bank.value('sso_sessions_revoked_total', { cause: 'logout' })).toBe(1)
    expect(bank.value('sso_logout_notices_delivered_total')).toBe(1)
    expect(bank.value('sso_logout_notices_pending')).toBe(0)
    const retirement = await scrape('retirement')
    expect(retirement.value('sso_backchannel_revocations_applied_total')).toBe(1)
    expect(retirement.value('sso_backchannel_revocation_delay_seconds_count')).toBe(1)
    expect(retirement.value('sso_tokens_refused_total', { token: 'access', reason: 'revoked' })).toBe(1)
  })
})
