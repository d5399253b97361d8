// The per-username login limit across replicas: two banks on one PostgreSQL database, each with its own connection
// pool, take 50 wrong passwords for one username at once. The counter is incremented (INSERT … ON CONFLICT DO UPDATE
// … RETURNING, on the database's clock) before argon2 runs, so at most the limit of them ever reach the password
// check: each 401 is one argon2 verification, each 429 was refused before it.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import { alice, buildTestApp, signUp } from '../test-app.js'

const attempts = 50
const maxFailures = 10

describe.skipIf(inject('postgresUnavailable') !== '')('login counters on PostgreSQL, two replicas at once', () => {
  let drop: () => Promise<void>
  let replicas: App[]
  beforeAll(async () => {
    const database = await createTestDatabase()
    drop = database.drop
    replicas = [
      await buildTestApp({ DATABASE_URL: database.databaseUrl }),
      await buildTestApp({ DATABASE_URL: database.databaseUrl }),
    ]
    await signUp(replicas[0]!, alice)
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
})
