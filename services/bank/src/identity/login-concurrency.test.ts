// The login limits across replicas: two banks on one PostgreSQL database, each with its own connection pool. The
// per-username one takes 50 wrong passwords for one username at once. The counter is incremented (INSERT … ON CONFLICT DO UPDATE
// … RETURNING, on the database's clock) before argon2 runs, so at most the limit of them ever reach the password
// check: each 401 is one argon2 verification, each 429 was refused before it.

import { injectInto, register } from '@sso/shared/testing'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import { alice, buildTestApp } from '../test-app.js'

const attempts = 50
const maxFailures = 10

describe.skipIf(inject('postgresUnavailable') !== '')('login counters on PostgreSQL, two replicas at once', () => {
  let drop: () => Promise<void>
  let replicas: App[]
  beforeAll(async () => {
    const database = await createTestDatabase()
    drop = database.drop
    replicas = [
      await buildTestApp({ DATABASE_URL: database.databaseUrl, TRUST_PROXY: ['127.0.0.1'] }),
      await buildTestApp({ DATABASE_URL: database.databaseUrl, TRUST_PROXY: ['127.0.0.1'] }),
    ]
    await register(injectInto(replicas[0]!), alice)
  })
  afterAll(async () => {
    await Promise.all(replicas.map((app) => app.close()))
    await drop()
  })

  it(`lets at most ${maxFailures} of ${attempts} parallel wrong passwords reach argon2`, async () => {
    const responses = await Promise.all(
      Array.from({ length: attempts }, (_, index) =>
        replicas[index % replicas.length]!.inject({
          method: 'POST',
          url: '/api/login',
          payload: { username: alice.username, password: `wrong password ${index}` },
        }),
      ),
    )
    const statuses = responses.map((response) => response.statusCode)
    expect(statuses.filter((status) => status === 401)).toHaveLength(maxFailures)
    expect(statuses.filter((status) => status === 429)).toHaveLength(attempts - maxFailures)
    // Locked on both replicas, even for the right password.
    for (const app of replicas) {
      expect((await app.inject({ method: 'POST', url: '/api/login', payload: alice })).statusCode).toBe(429)
    }
  })

  it('counts one address across both replicas: its 100 login attempts are spent wherever they land', async () => {
    const address = { 'x-forwarded-for': '203.0.113.77' }
    const attempt = (app: App) =>
      // Bad input (400) costs no argon2 work, yet still counts against the address.
      app.inject({ method: 'POST', url: '/api/login', payload: { username: 'x' }, headers: address })
    const statuses: number[] = []
    for (let index = 0; index < 100; index++) statuses.push((await attempt(replicas[index % 2]!)).statusCode)
    expect(statuses.filter((status) => status === 429)).toEqual([])
    for (const app of replicas) {
      const refused = await attempt(app)
      expect(refused.statusCode).toBe(429)
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    }
  })
})
