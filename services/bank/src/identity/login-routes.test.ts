import { openDatabase } from '@sso/shared/db'
import { decodeToken, injectInto, register } from '@sso/shared/testing'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { describeEachEngine, type TestDatabaseSettings } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import type { BankDatabase } from '../db/bank-database.js'
import { bankMigrations } from '../db/migrations/index.js'
import { alice, bob, buildTestApp, cookiesOf, createTestConfig, databaseConfig } from '../test-app.js'

describeEachEngine('login-routes (bank)', (engine) => {
  const freshDatabase = async () => databaseConfig(await engine.createDatabase(bankMigrations))

  let app: App
  let settings: TestDatabaseSettings
  beforeEach(async () => {
    settings = await engine.createDatabase(bankMigrations)
    app = await buildTestApp(databaseConfig(settings))
    await register(injectInto(app), alice)
  })
  afterEach(async () => {
    vi.useRealTimers()
    await app.close()
  })

  /**
   * Moves the login counters `ms` into the past, as the database's clock sees them: the limit is timed by that
   * clock (the one all replicas share), so faking Date in this process would not move it.
   */
  async function ageLoginCounters(ms: number) {
    const { db } = await openDatabase<BankDatabase>({ ...settings, migrations: bankMigrations })
    try {
      await db
        .updateTable('loginThrottle')
        .set((eb) => ({ lastAttemptAt: eb('lastAttemptAt', '-', ms) }))
        .execute()
    } finally {
      await db.destroy()
    }
  }

  function login(payload: unknown) {
    return app.inject({ method: 'POST', url: '/api/login', payload: payload as string })
  }

  describe('POST /api/login', () => {
    it('answers 200 with an access token whose header and claims match docs/spec.md#access-tokens', async () => {
      const response = await login(alice)
      expect(response.statusCode).toBe(200)
      const { header, claims } = decodeToken(response.json().data)
      expect(header).toEqual({ alg: 'HS256', typ: 'JWT', kid: expect.stringMatching(/^[\w-]{16}$/) })
      expect(claims).toEqual({
        sub: expect.stringMatching(/^[0-9a-f-]{36}$/),
        username: 'alice',
        sid: expect.any(String),
        iss: 'bank',
        aud: ['bank', 'retirement'],
        iat: expect.any(Number),
        exp: expect.any(Number),
        jti: expect.any(String),
      })
      expect((claims.exp as number) - (claims.iat as number)).toBe(createTestConfig().ACCESS_TOKEN_TTL)
    })

    it('sets the access_token and refresh_token cookies with the attributes of docs/spec.md#cookies', async () => {
      const response = await login(alice)
      const access = response.cookies.find((cookie) => cookie.name === 'access_token')
      const refresh = response.cookies.find((cookie) => cookie.name === 'refresh_token')
      expect(access).toMatchObject({ value: response.json().data, httpOnly: true, sameSite: 'Lax', path: '/' })
      expect(access?.maxAge).toBe(createTestConfig().ACCESS_TOKEN_TTL)
      expect(refresh).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' })
      // `<sid>.<generation>.<256 random bits>.<MAC>`: see sessions/refresh-token.ts.
      expect(refresh?.value).toMatch(/^[0-9a-f-]{36}\.0\.[\w-]{43}\.[\w-]{22}$/)
      expect(refresh?.domain).toBeUndefined()
      expect(response.headers['cache-control']).toBe('no-store')
    })

    it("ends the browser's previous session, whose refresh cookie it replaces", async () => {
      const previous = cookiesOf(await login(alice))
      const again = await app.inject({ method: 'POST', url: '/api/login', payload: alice, cookies: previous })
      expect(again.statusCode).toBe(200)
      const refresh = await app.inject({ method: 'POST', url: '/api/refresh', cookies: previous })
      expect(refresh.statusCode).toBe(401)
    })

    it('accepts the username in any case or NFKC spelling', async () => {
      expect((await login({ ...alice, username: 'ALICE' })).statusCode).toBe(200)
      expect((await login({ ...alice, username: 'ａｌｉｃｅ' })).statusCode).toBe(200)
    })

    it('gives an unknown user and a wrong password the same 401 answer', async () => {
      const wrongPassword = await login({ username: 'alice', password: 'not the password' })
      const unknownUser = await login({ username: 'mallory', password: 'not the password' })
      for (const response of [wrongPassword, unknownUser]) {
        expect(response.statusCode).toBe(401)
        expect(response.cookies).toEqual([])
      }
      expect(unknownUser.body).toBe(wrongPassword.body)
      expect(wrongPassword.json()).toEqual({
        status: 'error',
        error: 'Invalid username/password',
        code: 'SSO_INVALID_CREDENTIALS',
      })
    })

    it('refuses malformed credentials with 400', async () => {
      expect((await login({ username: 'alice' })).statusCode).toBe(400)
      expect((await login({ username: 'alice', password: 123456789 })).statusCode).toBe(400)
    })
  })

  describe('login rate limit per username', () => {
    const wrong = { username: 'alice', password: 'wrong password!' }

    async function failTenTimes() {
      for (let attempt = 1; attempt <= 10; attempt++) expect((await login(wrong)).statusCode).toBe(401)
    }

    it('answers 429 with Retry-After after 10 consecutive failures, even to the right password', async () => {
      await failTenTimes()
      for (const credentials of [wrong, alice]) {
        const response = await login(credentials)
        expect(response.statusCode).toBe(429)
        expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_RATE_LIMITED' })
        const retryAfterSeconds = Number(response.headers['retry-after'])
        expect(retryAfterSeconds).toBeGreaterThan(0)
        expect(retryAfterSeconds).toBeLessThanOrEqual(15 * 60)
      }
    })

    it('locks unknown usernames the same way, so the limit does not reveal which exist', async () => {
      for (let attempt = 1; attempt <= 10; attempt++) {
        await login({ username: 'mallory', password: 'wrong password!' })
      }
      expect((await login({ username: 'mallory', password: 'wrong password!' })).statusCode).toBe(429)
    })

    it('leaves other users unaffected', async () => {
      await register(injectInto(app), bob)
      await failTenTimes()
      expect((await login(bob)).statusCode).toBe(200)
    })

    it('counts only consecutive failures: a successful login starts the count again', async () => {
      for (let attempt = 1; attempt <= 9; attempt++) await login(wrong)
      expect((await login(alice)).statusCode).toBe(200)
      for (let attempt = 1; attempt <= 9; attempt++) expect((await login(wrong)).statusCode).toBe(401)
      expect((await login(alice)).statusCode).toBe(200)
    })

    it('holds under parallel attempts: of 20 at once, at most 10 reach the password check', async () => {
      const responses = await Promise.all(Array.from({ length: 20 }, () => login(wrong)))
      const statuses = responses.map((response) => response.statusCode)
      expect(statuses.filter((status) => status === 401)).toHaveLength(10)
      expect(statuses.filter((status) => status === 429)).toHaveLength(10)
    })

    it('lets the user in again once the 15-minute window has passed', async () => {
      await failTenTimes()
      await ageLoginCounters(14 * 60_000)
      const locked = await login(alice)
      expect(locked.statusCode).toBe(429)
      expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0)
      expect(Number(locked.headers['retry-after'])).toBeLessThanOrEqual(60)
      await ageLoginCounters(60_000 + 1000)
      expect((await login(alice)).statusCode).toBe(200)
    })
  })

  describe('login rate limit per address', () => {
    it('answers 429 with Retry-After once one address exceeds its budget, and ignores X-Forwarded-For', async () => {
      let last = await login({ username: 'x' })
      for (let attempt = 2; attempt <= 101; attempt++) {
        last = await app.inject({
          method: 'POST',
          url: '/api/login',
          // Bad input (400) costs no argon2 work, yet still counts against the address.
          payload: { username: 'x' },
          headers: { 'x-forwarded-for': `203.0.113.${attempt}` },
        })
      }
      expect(last.statusCode).toBe(429)
      expect(Number(last.headers['retry-after'])).toBeGreaterThan(0)
      expect(last.json()).toMatchObject({ status: 'error', code: 'SSO_RATE_LIMITED' })
    })

    it('believes X-Forwarded-For from a proxy named in TRUST_PROXY', async () => {
      const behindProxy = await buildTestApp({ ...(await freshDatabase()), TRUST_PROXY: ['127.0.0.1'] })
      try {
        const statuses = []
        for (let attempt = 1; attempt <= 101; attempt++) {
          const response = await behindProxy.inject({
            method: 'POST',
            url: '/api/login',
            payload: { username: 'x' },
            headers: { 'x-forwarded-for': `203.0.113.${attempt}` },
          })
          statuses.push(response.statusCode)
        }
        expect(statuses).not.toContain(429)
      } finally {
        await behindProxy.close()
      }
    })
  })

  describe('cookies', () => {
    it('are the same cookies the refresh endpoint reads', async () => {
      const cookies = cookiesOf(await login(alice))
      const response = await app.inject({ method: 'POST', url: '/api/refresh', cookies })
      expect(response.statusCode).toBe(200)
    })
  })
})
