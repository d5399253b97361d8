import { injectInto, logIn, register as registerUser } from '@sso/shared/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import { bankMigrations } from '../db/migrations/index.js'
import { alice, buildTestApp, databaseConfig } from '../test-app.js'
import { SIGN_UPS_PER_ADDRESS } from './address-limits.js'

describeEachEngine('register-routes (bank)', (engine) => {
  const freshDatabase = async () => databaseConfig(await engine.createDatabase(bankMigrations))

  let app: App
  beforeEach(async () => {
    app = await buildTestApp(await freshDatabase())
  })
  afterEach(async () => {
    await app.close()
  })

  function register(payload: unknown, headers: Record<string, string> = {}) {
    return app.inject({ method: 'POST', url: '/api/register', payload: payload as string, headers })
  }

  describe('POST /api/register', () => {
    it('creates a user and answers 201 with its id and username', async () => {
      const response = await register(alice)
      expect(response.statusCode).toBe(201)
      const body = response.json()
      expect(body).toEqual({ status: 'ok', data: { id: expect.any(String), username: 'alice' } })
      expect(body.data.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    })

    it('opens a checking account with the user', async () => {
      await registerUser(injectInto(app), alice)
      const { accessToken } = await logIn(injectInto(app), alice)
      const response = await app.inject({ url: '/api/accounts', headers: { authorization: `Bearer ${accessToken}` } })
      expect(response.json().data).toEqual([{ id: expect.any(String), name: 'Checking', balanceCents: 0 }])
    })

    it('stores the username NFKC-normalised and lowercased, and the password NFKC-normalised', async () => {
      // Fullwidth letters are NFKC-equivalent to ASCII; "ﬁ" (a ligature) becomes "fi".
      const response = await register({ username: 'ＡＬＩＣＥ', password: 'ﬁne password' })
      expect(response.json().data.username).toBe('alice')
      await logIn(injectInto(app), { username: 'Alice', password: 'fine password' })
    })

    it('refuses a username taken in another case or spelling with 409', async () => {
      await registerUser(injectInto(app), alice)
      for (const username of ['alice', 'ALICE', 'ａｌｉｃｅ']) {
        const response = await register({ username, password: 'another password' })
        expect(response.statusCode).toBe(409)
        expect(response.json()).toMatchObject({ status: 'error', error: 'That username is already taken' })
      }
    })

    it.each([
      ['too short', { username: 'al', password: 'long enough password' }],
      ['too long', { username: 'a'.repeat(33), password: 'long enough password' }],
      ['with a leading space (never trimmed)', { username: ' alice', password: 'long enough password' }],
      ['with a space inside', { username: 'al ice', password: 'long enough password' }],
      ['with a character outside a-z 0-9 _ . -', { username: 'alice!', password: 'long enough password' }],
      ['with a non-ASCII letter', { username: 'alicé', password: 'long enough password' }],
      ['a password of 7 characters', { username: 'alice', password: '1234567' }],
      ['a password of 129 characters', { username: 'alice', password: 'p'.repeat(129) }],
      ['a password with NUL', { username: 'alice', password: 'pass\u0000word' }],
      ['a number as username', { username: 12345, password: 'long enough password' }],
      ['a number as password', { username: 'alice', password: 1234567890 }],
      ['a missing password', { username: 'alice' }],
      ['an extra property', { username: 'alice', password: 'long enough password', admin: true }],
      ['an array body', [alice]],
    ])('refuses a body %s with 400', async (_case, payload) => {
      const response = await register(payload)
      expect(response.statusCode).toBe(400)
      expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_INVALID_INPUT' })
    })

    it('counts password length in code points after NFKC, so 128 emoji are allowed and never truncated', async () => {
      const password = '😀'.repeat(128)
      expect((await register({ username: 'alice', password })).statusCode).toBe(201)
      // A prefix of the password is a different password: nothing was cut off.
      await expect(logIn(injectInto(app), { username: 'alice', password: '😀'.repeat(127) })).rejects.toThrow(/401/)
    })

    it('counts a trusted hop whose X-Forwarded-For is no IP address as that hop, so the header cannot buy budgets', async () => {
      const behindProxy = await buildTestApp({ ...(await freshDatabase()), TRUST_PROXY: ['127.0.0.1'] })
      try {
        const max = SIGN_UPS_PER_ADDRESS.max as number
        const statuses = []
        for (let round = 0; round <= max; round++) {
          const response = await behindProxy.inject({
            method: 'POST',
            url: '/api/register',
            payload: {},
            headers: { 'x-forwarded-for': `client-${round}` },
            remoteAddress: '127.0.0.1',
          })
          statuses.push(response.statusCode)
        }
        expect(statuses.slice(0, max)).toEqual(Array(max).fill(400))
        expect(statuses.at(-1)).toBe(429)
      } finally {
        await behindProxy.close()
      }
    })

    it('refuses a body over the size limit with 413', async () => {
      const response = await register({ username: 'alice', password: 'x'.repeat(20_000) })
      expect(response.statusCode).toBe(413)
      expect(response.json()).toMatchObject({ status: 'error' })
    })

    it('refuses a body that is not JSON with 415', async () => {
      const response = await register('username=alice&password=long+enough+password', {
        'content-type': 'text/plain',
      })
      expect(response.statusCode).toBe(415)
    })

    it('refuses broken JSON with 400', async () => {
      const response = await register('{"username": "alice",', { 'content-type': 'application/json' })
      expect(response.statusCode).toBe(400)
      expect(response.json()).toMatchObject({ status: 'error', error: 'The body is not valid JSON' })
    })

    it('states the broken rule in a sentence', async () => {
      const badName = await register({ username: 'a b', password: 'long enough password' })
      expect(badName.json().error).toBe(
        'Invalid request: A username is 3 to 32 characters: letters a-z, digits, ".", "_" or "-".',
      )
      const badPassword = await register({ username: 'alice', password: 'short' })
      expect(badPassword.json().error).toContain('A password is 8 to 128 characters')
    })

    it('never echoes the password in an error', async () => {
      const response = await register({ username: 'bad name', password: 'my very secret password' })
      expect(response.body).not.toContain('my very secret password')
    })
  })
})
