import { decodeToken, injectInto, logIn, register, type Scrape, startScraping } from '@sso/shared/testing'
import { Registry } from 'prom-client'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { App } from './app.js'
import { LOGINS_PER_ADDRESS, SIGN_UPS_PER_ADDRESS } from './identity/address-limits.js'
import { createBankSecurityEvents } from './security-events.js'
import { alice, bob, buildTestApp, cookiesOf, createLogoutReceiver } from './test-app.js'

// The bank's metrics, scraped as Prometheus does (a real socket to the management listener), each moved by the event
// that should move it. The audit lines the same events write are followed through real processes in
// e2e/audit-trail.test.ts.

let app: App
let receiver: ReturnType<typeof createLogoutReceiver>
let scrape: () => Promise<Scrape>
beforeEach(async () => {
  receiver = createLogoutReceiver()
  app = await buildTestApp({}, { postLogoutToken: receiver.post })
  scrape = await startScraping(app)
})
afterEach(async () => {
  await app.close()
})

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const refresh = (refreshToken: string | undefined) =>
  app.inject({ method: 'POST', url: '/api/refresh', cookies: { refresh_token: refreshToken ?? '' } })

describe('the management listener', () => {
  it('serves Prometheus text with process and HTTP metrics, while the public port has no /metrics', async () => {
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
    expect((await app.inject({ url: '/no/such/page' })).statusCode).toBe(404)
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(404)
    const metrics = await scrape()
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(metrics.value('process_cpu_user_seconds_total')).toBeGreaterThan(0)
    expect(metrics.value('nodejs_eventloop_lag_seconds', { service: 'bank' })).toBeGreaterThanOrEqual(0)
    const healthz = { method: 'GET', route: '/healthz', status_code: '200', service: 'bank' }
    expect(metrics.value('http_request_duration_seconds_count', healthz)).toBe(1)
    // Unknown paths share one series, so a scan cannot create new ones; /metrics was one of them.
    expect(metrics.value('http_request_duration_seconds_count', { route: 'unmatched', status_code: '404' })).toBe(2)
  })

  it('closes with the app', async () => {
    await scrape()
    await app.close()
    await expect(scrape()).rejects.toThrow()
  })
})

describe('security metrics', () => {
  it('counts logins by outcome: succeeded, failed, throttled by the username lock', async () => {
    await register(injectInto(app), alice)
    await logIn(injectInto(app), alice)
    const wrong = { username: 'alice', password: 'not the password at all' }
    for (let attempt = 0; attempt < 10; attempt++) {
      expect((await injectInto(app)('/api/login', wrong)).statusCode).toBe(401)
    }
    expect((await injectInto(app)('/api/login', { username: 'nobody', password: 'whatever it is' })).statusCode).toBe(
      401,
    )
    expect((await injectInto(app)('/api/login', alice)).statusCode).toBe(429)
    const metrics = await scrape()
    expect(metrics.value('sso_logins_total', { outcome: 'succeeded' })).toBe(1)
    expect(metrics.value('sso_logins_total', { outcome: 'failed' })).toBe(11)
    expect(metrics.value('sso_logins_total', { outcome: 'throttled' })).toBe(1)
  })

  it("counts logins and sign-ups refused by the client address's budget as throttled", async () => {
    // Bodies the schema refuses cost no argon2 work, but count against the address all the same.
    for (let attempt = 0; attempt < Number(LOGINS_PER_ADDRESS.max); attempt++) await injectInto(app)('/api/login', {})
    for (let attempt = 0; attempt < Number(SIGN_UPS_PER_ADDRESS.max); attempt++) {
      await injectInto(app)('/api/register', {})
    }
    expect((await injectInto(app)('/api/login', alice)).statusCode).toBe(429)
    expect((await injectInto(app)('/api/register', alice)).statusCode).toBe(429)
    const metrics = await scrape()
    expect(metrics.value('sso_logins_total', { outcome: 'throttled' })).toBe(1)
    expect(metrics.value('sso_registrations_total', { outcome: 'throttled' })).toBe(1)
  })

  it('counts sign-ups, created and refused for a taken name', async () => {
    await register(injectInto(app), alice)
    expect((await injectInto(app)('/api/register', alice)).statusCode).toBe(409)
    const metrics = await scrape()
    expect(metrics.value('sso_registrations_total', { outcome: 'created' })).toBe(1)
    expect(metrics.value('sso_registrations_total', { outcome: 'taken' })).toBe(1)
  })

  it('counts refreshes by outcome, a detected reuse among them, and the session it revoked', async () => {
    await register(injectInto(app), alice)
    const first = (await logIn(injectInto(app), alice)).cookies.refresh_token
    const second = cookiesOf(await refresh(first)).refresh_token
    // The predecessor again, within the grace window: a parallel tab, given the same successor.
    expect((await refresh(first)).statusCode).toBe(200)
    const third = cookiesOf(await refresh(second)).refresh_token
    expect(third).toBeTruthy()
    // Two generations old: theft.
    expect((await refresh(first)).statusCode).toBe(401)
    expect((await refresh('not-a-refresh-token')).statusCode).toBe(401)
    const metrics = await scrape()
    expect(metrics.value('sso_refreshes_total', { outcome: 'rotated' })).toBe(2)
    expect(metrics.value('sso_refreshes_total', { outcome: 'replayed' })).toBe(1)
    expect(metrics.value('sso_refreshes_total', { outcome: 'reuse_detected' })).toBe(1)
    expect(metrics.value('sso_refreshes_total', { outcome: 'refused' })).toBe(1)
    expect(metrics.value('sso_sessions_revoked_total', { cause: 'reuse_detected' })).toBe(1)
  })

  it('counts access tokens refused, by reason', async () => {
    await register(injectInto(app), alice)
    const { accessToken, cookies } = await logIn(injectInto(app), alice)
    const [header, payload, signature = ''] = accessToken.split('.')
    const tampered = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`
    expect((await app.inject({ url: '/api/me' })).statusCode).toBe(401)
    expect((await app.inject({ url: '/api/me', headers: bearer(tampered) })).statusCode).toBe(401)
    expect((await app.inject({ url: '/api/me', headers: bearer('not.a.token') })).statusCode).toBe(401)
    expect((await app.inject({ method: 'POST', url: '/api/logout', cookies })).statusCode).toBe(204)
    expect((await app.inject({ url: '/api/me', headers: bearer(accessToken) })).statusCode).toBe(401)
    const metrics = await scrape()
    const refused = (reason: string) => metrics.value('sso_tokens_refused_total', { token: 'access', reason })
    expect(refused('missing')).toBe(1)
    expect(refused('bad_signature')).toBe(1)
    expect(refused('malformed')).toBe(1)
    expect(refused('revoked')).toBe(1)
    expect(metrics.value('sso_sessions_revoked_total', { cause: 'logout' })).toBe(1)
  })

  it('shows logout notices pending and how old the oldest is, the failed attempts, then the delivery', async () => {
    receiver.status = 503
    await register(injectInto(app), alice)
    const { cookies } = await logIn(injectInto(app), alice)
    expect((await scrape()).value('sso_logout_notices_pending')).toBe(0)
    expect((await app.inject({ method: 'POST', url: '/api/logout', cookies })).statusCode).toBe(204)
    await vi.waitFor(async () => expect((await scrape()).value('sso_logout_notice_failures_total')).toBe(1), {
      timeout: 3_000,
    })
    const waiting = await scrape()
    expect(waiting.value('sso_logout_notices_pending')).toBe(1)
    expect(waiting.value('sso_logout_notice_oldest_pending_age_seconds')).toBeGreaterThan(0)
    expect(waiting.value('sso_logout_notices_delivered_total')).toBe(0)

    receiver.status = 200
    await vi.waitFor(async () => expect((await scrape()).value('sso_logout_notices_delivered_total')).toBe(1), {
      timeout: 5_000,
    })
    const delivered = await scrape()
    expect(delivered.value('sso_logout_notices_pending')).toBe(0)
    expect(delivered.value('sso_logout_notice_oldest_pending_age_seconds')).toBe(0)
  })

  it('shows the password-hashing queue: running, queued and its limit', async () => {
    const metrics = await scrape()
    expect(metrics.value('sso_password_hashing_queue_limit')).toBeGreaterThanOrEqual(32)
    expect(metrics.text).toMatch(/^sso_password_hashing_running\{service="bank"\} 0$/m)
    expect(metrics.text).toMatch(/^sso_password_hashing_queued\{service="bank"\} 0$/m)
  })

  it('counts a session ended from the list and one ended by logging in again in the same browser', async () => {
    await register(injectInto(app), bob)
    const first = await logIn(injectInto(app), bob)
    const second = await logIn(injectInto(app), bob)
    const ended = await app.inject({
      method: 'DELETE',
      url: `/api/sessions/${decodeToken(first.accessToken).claims.sid}`,
      headers: bearer(second.accessToken),
    })
    expect(ended.statusCode).toBe(204)
    const again = await app.inject({
      method: 'POST',
      url: '/api/login',
      payload: bob,
      cookies: { refresh_token: second.cookies.refresh_token ?? '' },
    })
    expect(again.statusCode).toBe(200)
    const metrics = await scrape()
    expect(metrics.value('sso_sessions_revoked_total', { cause: 'ended_from_list' })).toBe(1)
    expect(metrics.value('sso_sessions_revoked_total', { cause: 'new_login' })).toBe(1)
  })
})

describe('the outbox gauges', () => {
  it('read NaN, and leave the rest of the scrape intact, when the backlog query fails', async () => {
    const metrics = await buildTestApp()
    try {
      const registry = new Registry()
      createBankSecurityEvents({
        metrics: { ...metrics.metrics, registry },
        readOutboxBacklog: () => Promise.reject(new Error('the database is gone')),
        passwordWork: () => ({ running: 0, queued: 0 }),
        passwordWorkMaxQueued: 64,
        log: metrics.log,
      })
      const text = await registry.metrics()
      // prom-client spells it `Nan`; Prometheus reads NaN in any case.
      expect(text).toMatch(/^sso_logout_notices_pending NaN$/im)
      expect(text).toMatch(/^sso_logout_notice_oldest_pending_age_seconds NaN$/im)
      expect(text).toMatch(/^sso_password_hashing_queue_limit 64$/m)
    } finally {
      await metrics.close()
    }
  })
})
