import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { describeEachEngine } from '../../../e2e/support/test-databases.js'
import type { App } from './app.js'
import { bankMigrations } from './db/migrations/index.js'
import { buildTestApp, databaseConfig } from './test-app.js'

describeEachEngine('bank app', (engine) => {
  const freshDatabase = async () => databaseConfig(await engine.createDatabase(bankMigrations))

  let app: App
  beforeEach(async () => {
    app = await buildTestApp(await freshDatabase())
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
