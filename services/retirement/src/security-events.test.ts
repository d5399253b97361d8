import { randomUUID } from 'node:crypto'
import { createKeyring, signLogoutToken } from '@sso/shared'
import { forgeAccessToken, type Scrape, startScraping } from '@sso/shared/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { App } from './app.js'
import { alice, bearer, buildTestApp, TEST_JWT_SECRET } from './test-app.js'

// Retirement's metrics, scraped from its management listener (a real socket), each moved by its event.

let app: App
let scrape: () => Promise<Scrape>
beforeEach(async () => {
  app = await buildTestApp()
  scrape = await startScraping(app)
})
afterEach(async () => {
  await app.close()
})

const postLogout = (logoutToken: string) =>
  app.inject({
    method: 'POST',
    url: '/backchannel/logout',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: logoutToken }).toString(),
  })

describe('retirement metrics', () => {
  it('are served on the management listener only', async () => {
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(404)
    const metrics = await scrape()
    expect(metrics.value('process_resident_memory_bytes', { service: 'retirement' })).toBeGreaterThan(0)
    expect(metrics.value('http_request_duration_seconds_count', { route: 'unmatched', status_code: '404' })).toBe(1)
  })

  it('count a revocation applied and observe its delay from the logout token’s iat', async () => {
    const sid = randomUUID()
    const logoutToken = signLogoutToken(app.jwt, createKeyring(TEST_JWT_SECRET), { sid, sub: alice.id })
    expect((await postLogout(logoutToken)).statusCode).toBe(200)
    const metrics = await scrape()
    expect(metrics.value('sso_backchannel_revocations_applied_total')).toBe(1)
    expect(metrics.value('sso_backchannel_revocation_delay_seconds_count')).toBe(1)
    // Signed this very second (iat has whole seconds): at most a second and a bit.
    expect(metrics.value('sso_backchannel_revocation_delay_seconds_sum')).toBeLessThan(2)
    expect(metrics.value('sso_backchannel_revocation_delay_seconds_bucket', { le: '2' })).toBe(1)

    // The same token again is a replay, and a token signed with another key is invalid: both refused, by reason.
    expect((await postLogout(logoutToken)).statusCode).toBe(400)
    const foreign = signLogoutToken(app.jwt, createKeyring('another key entirely, 48 bytes long, not ours!!'), {
      sid,
    })
    expect((await postLogout(foreign)).statusCode).toBe(400)
    const after = await scrape()
    expect(after.value('sso_backchannel_revocations_applied_total')).toBe(1)
    expect(after.value('sso_tokens_refused_total', { token: 'logout', reason: 'replayed' })).toBe(1)
    expect(after.value('sso_tokens_refused_total', { token: 'logout', reason: 'invalid' })).toBe(1)
  })

  it('count access tokens refused, by reason: expired, unknown key, revoked', async () => {
    const now = Math.floor(Date.now() / 1000)
    const expired = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { iat: now - 3600, exp: now - 600 } })
    const unknownKey = forgeAccessToken(alice, { secret: 'a key retirement has never heard of, 48 bytes!!' })
    const sid = randomUUID()
    const revoked = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { sid } })
    await postLogout(signLogoutToken(app.jwt, createKeyring(TEST_JWT_SECRET), { sid, sub: alice.id }))
    for (const token of [expired, unknownKey, revoked]) {
      expect((await app.inject({ url: '/api/me', headers: bearer(token) })).statusCode).toBe(401)
    }
    const metrics = await scrape()
    const refused = (reason: string) => metrics.value('sso_tokens_refused_total', { token: 'access', reason })
    expect(refused('expired')).toBe(1)
    expect(refused('unknown_key')).toBe(1)
    expect(refused('revoked')).toBe(1)
  })
})
