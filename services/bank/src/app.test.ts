import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { cutOffDatabase, reopenDatabase } from '../../../e2e/support/postgres-outage.js'
import { describeEachEngine } from '../../../e2e/support/test-databases.js'
import type { App } from './app.js'
import { bankMigrations } from './db/migrations/index.js'
import { buildTestApp, databaseConfig } from './test-app.js'

describeEachEngine('bank app', (engine) => {
  let app: App
  let database: Awaited<ReturnType<typeof engine.createDatabase>>
  beforeEach(async () => {
    database = await engine.createDatabase(bankMigrations)
    app = await buildTestApp(databaseConfig(database))
  })
  afterEach(async () => {
    await app.close()
  })

  describe('the bank app', () => {
    it('answers /healthz once the database is open', async () => {
      const response = await app.inject({ url: '/healthz' })
      expect(response.statusCode).toBe(200)
      expect(response.json()).toEqual({ status: 'ok' })
    })

    it('answers /readyz 200 when the database answers', async () => {
      const response = await app.inject({ url: '/readyz' })
      expect(response.statusCode).toBe(200)
      expect(response.json()).toEqual({ status: 'ok' })
    })

    // Declared for PostgreSQL only: a SQLite file cannot be cut off from a running process.
    if (engine.name === 'postgres')
      it('answers /readyz 503 while its database refuses connections, /healthz still 200, and 200 again after', async () => {
        const { databaseUrl = '' } = database
        await cutOffDatabase(databaseUrl)
        try {
          const response = await app.inject({ url: '/readyz' })
          expect(response.statusCode).toBe(503)
          expect(response.json()).toEqual({
            status: 'error',
            error: 'Not ready: the database does not answer',
            code: 'SSO_NOT_READY',
          })
          expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
        } finally {
          await reopenDatabase(databaseUrl)
        }
        expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200)
      })

    it('answers unknown paths with a 404 in the error shape', async () => {
      const response = await app.inject({ url: '/api/nothing-here' })
      expect(response.statusCode).toBe(404)
      expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_NOT_FOUND' })
    })

    it('echoes neither the path of a 404 nor a malformed URL, where a client may have put a token', async () => {
      for (const url of ['/api/eyJhbGciOiJIUzI1NiJ9.secret-looking', '/api/%zzeyJhbGciOiJIUzI1NiJ9.secret-looking']) {
        const response = await app.inject({ url })
        expect([400, 404]).toContain(response.statusCode)
        expect(response.json()).toMatchObject({ status: 'error', error: expect.any(String) })
        expect(response.body).not.toContain('eyJ')
      }
    })
  })
})
