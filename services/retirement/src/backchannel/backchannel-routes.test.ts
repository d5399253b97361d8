import { randomUUID } from 'node:crypto'
import { BACKCHANNEL_LOGOUT_EVENT, createKeyring, deriveKeyId, signLogoutToken } from '@sso/shared'
import { forgeAccessToken, forgeLogoutToken } from '@sso/shared/testing'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import { retirementMigrations } from '../db/migrations/index.js'
import { alice, bearer, buildTestApp, databaseConfig, TEST_JWT_SECRET } from '../test-app.js'

describeEachEngine('POST /backchannel/logout', (engine) => {
  const freshDatabase = async () => databaseConfig(await engine.createDatabase(retirementMigrations))

  const bob = { id: '7d1e4a2b-3c5f-4e6a-8b9c-0d1e2f3a4b5c', username: 'bob' }
  const keyring = createKeyring(TEST_JWT_SECRET)

  let app: App
  beforeEach(async () => {
    app = await buildTestApp(await freshDatabase())
  })
  afterEach(async () => {
    vi.useRealTimers()
    await app.close()
  })

  function postLogout(body: string, contentType = 'application/x-www-form-urlencoded') {
    return app.inject({ method: 'POST', url: '/backchannel/logout', headers: { 'content-type': contentType }, body })
  }
  const form = (logoutToken: string) => new URLSearchParams({ logout_token: logoutToken }).toString()
  const me = (token: string) => app.inject({ url: '/api/me', headers: bearer(token) })

  /** A logout token exactly as the bank signs it. */
  const bankLogoutToken = (subject: { sid: string; sub?: string } | { sub: string }) =>
    signLogoutToken(app.jwt, keyring, subject)

  describe('POST /backchannel/logout', () => {
    it("accepts the bank's logout token (200) and from then on refuses that session's access tokens only", async () => {
      const sid = randomUUID()
      const revoked = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { sid } })
      const sameSessionLater = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { sid } })
      const otherSession = forgeAccessToken(alice, { secret: TEST_JWT_SECRET })
      const otherUser = forgeAccessToken(bob, { secret: TEST_JWT_SECRET })
      expect((await me(revoked)).statusCode).toBe(200)

      const response = await postLogout(form(bankLogoutToken({ sid, sub: alice.id })))
      expect(response.statusCode).toBe(200)
      expect(response.headers['cache-control']).toBe('no-store')

      for (const token of [revoked, sameSessionLater]) {
        const refused = await me(token)
        expect(refused.statusCode).toBe(401)
        expect(refused.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
      }
      expect((await me(otherSession)).statusCode).toBe(200)
      expect((await me(otherUser)).statusCode).toBe(200)
    })

    it('with sub alone, refuses every token of that user issued at or before the notice, and none after', async () => {
      const now = Math.floor(Date.now() / 1000)
      const earlier = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { iat: now - 60 } })
      const sameSecond = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { iat: now } })
      const bobs = forgeAccessToken(bob, { secret: TEST_JWT_SECRET, claims: { iat: now - 60 } })
      expect(
        (
          await postLogout(
            form(forgeLogoutToken(TEST_JWT_SECRET, { claims: { sid: undefined, sub: alice.id, iat: now } })),
          )
        ).statusCode,
      ).toBe(200)
      expect((await me(earlier)).statusCode).toBe(401)
      expect((await me(sameSecond)).statusCode).toBe(401)
      expect((await me(bobs)).statusCode).toBe(200)
      const later = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { iat: now + 1 } })
      expect((await me(later)).statusCode).toBe(200)
    })

    it('sends the browser of a revoked session from the plan page to the bank login (303)', async () => {
      const sid = randomUUID()
      const token = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { sid } })
      expect((await app.inject({ url: '/', cookies: { access_token: token } })).statusCode).toBe(200)
      await postLogout(form(bankLogoutToken({ sid, sub: alice.id })))
      const page = await app.inject({ url: '/', cookies: { access_token: token } })
      expect(page.statusCode).toBe(303)
      expect(page.headers.location).toMatch(/^http:\/\/localhost:3000\/login\?return_to=/)
    })

    it('refuses a replayed logout token (same jti) with 400', async () => {
      const token = bankLogoutToken({ sid: randomUUID() })
      expect((await postLogout(form(token))).statusCode).toBe(200)
      const replay = await postLogout(form(token))
      expect(replay.statusCode).toBe(400)
      expect(replay.json()).toMatchObject({ status: 'error', code: 'SSO_LOGOUT_TOKEN_INVALID' })
      // Another token with the same jti, even for another session, is a replay too.
      const jti = randomUUID()
      expect((await postLogout(form(forgeLogoutToken(TEST_JWT_SECRET, { claims: { jti } })))).statusCode).toBe(200)
      expect((await postLogout(form(forgeLogoutToken(TEST_JWT_SECRET, { claims: { jti } })))).statusCode).toBe(400)
    })

    it('refuses a forged logout token (another key) with 400, and revokes nothing', async () => {
      const sid = randomUUID()
      const token = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { sid } })
      const otherSecret = 'another-deployment-secret-0123456789-abcdefghij'
      for (const forged of [
        forgeLogoutToken(otherSecret, { header: { kid: deriveKeyId(TEST_JWT_SECRET) }, claims: { sid } }),
        forgeLogoutToken(otherSecret, { claims: { sid } }),
      ]) {
        expect((await postLogout(form(forged))).statusCode).toBe(400)
      }
      expect((await me(token)).statusCode).toBe(200)
    })

    it('refuses wrongly typed tokens with 400: typ JWT, an access token, a logout token without events', async () => {
      const sid = randomUUID()
      const accessToken = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { sid } })
      for (const wrong of [
        forgeLogoutToken(TEST_JWT_SECRET, { header: { typ: 'JWT' }, claims: { sid } }),
        accessToken,
        forgeAccessToken(alice, {
          secret: TEST_JWT_SECRET,
          claims: { sid, events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, aud: ['retirement'] },
        }),
        forgeLogoutToken(TEST_JWT_SECRET, { claims: { sid, events: undefined } }),
        forgeLogoutToken(TEST_JWT_SECRET, { claims: { sid, nonce: 'abc' } }),
        forgeLogoutToken(TEST_JWT_SECRET, { claims: { sid: undefined } }),
      ]) {
        const response = await postLogout(form(wrong))
        expect(response.statusCode).toBe(400)
      }
      expect((await me(accessToken)).statusCode).toBe(200)
    })

    it('never takes a logout token as an access token', async () => {
      const logoutToken = bankLogoutToken({ sid: randomUUID(), sub: alice.id })
      expect((await me(logoutToken)).statusCode).toBe(401)
      expect((await app.inject({ url: '/', cookies: { access_token: logoutToken } })).statusCode).toBe(303)
    })

    it('takes only application/x-www-form-urlencoded (415 otherwise) and needs the logout_token field (400)', async () => {
      const token = bankLogoutToken({ sid: randomUUID() })
      expect((await postLogout(JSON.stringify({ logout_token: token }), 'application/json')).statusCode).toBe(415)
      expect((await postLogout(`logout_token=${token}`, 'text/plain')).statusCode).toBe(415)
      expect(
        (await app.inject({ method: 'POST', url: '/backchannel/logout', body: `logout_token=${token}` })).statusCode,
      ).toBe(415)
      expect((await postLogout('token=abc')).statusCode).toBe(400)
      expect((await postLogout(`logout_token=${token}&logout_token=${token}`)).statusCode).toBe(400)
      expect((await postLogout(form(token), 'application/x-www-form-urlencoded; charset=utf-8')).statusCode).toBe(200)
    })

    it('needs no CSRF token, no access token and ignores Origin: the logout token is the credential', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/backchannel/logout',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://bank.internal' },
        body: form(bankLogoutToken({ sid: randomUUID() })),
      })
      expect(response.statusCode).toBe(200)
    })
  })

  describe('revocations across a restart', () => {
    it('are kept in the database, loaded at start, and pruned once no token can need them', async () => {
      await app.close()
      const database = await freshDatabase()
      try {
        app = await buildTestApp({ ...database, MAX_ACCESS_TOKEN_TTL: 900 })
        const sid = randomUUID()
        const token = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { sid } })
        const logoutToken = bankLogoutToken({ sid })
        expect((await postLogout(form(logoutToken))).statusCode).toBe(200)
        await app.close()

        app = await buildTestApp({ ...database, MAX_ACCESS_TOKEN_TTL: 900 })
        expect((await me(token)).statusCode).toBe(401)
        // The jti is remembered across the restart too.
        expect((await postLogout(form(logoutToken))).statusCode).toBe(400)
        await app.close()

        // Past iat + MAX_ACCESS_TOKEN_TTL + tolerance, nothing of it is loaded (the token itself would have expired).
        vi.useFakeTimers({ toFake: ['Date'] })
        vi.setSystemTime(Date.now() + (900 + 31) * 1000)
        app = await buildTestApp({ ...database, MAX_ACCESS_TOKEN_TTL: 900 })
        const fresh = forgeAccessToken(alice, { secret: TEST_JWT_SECRET, claims: { sid } })
        expect((await me(fresh)).statusCode).toBe(200)
      } finally {
        await app.close()
      }
    })
  })
})
