import { Type } from 'typebox'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { addHealthCheck, BODY_LIMIT_BYTES, createServiceApp } from './service-app.js'

let app: ReturnType<typeof createServiceApp>
beforeEach(async () => {
  app = createServiceApp({ LOG_LEVEL: 'silent', TRUST_PROXY: [] })
  addHealthCheck(app)
  app.post(
    '/api/amount',
    { schema: { body: Type.Object({ cents: Type.Integer() }, { additionalProperties: false }) } },
    async (request) => ({
      status: 'ok',
      data: request.body.cents,
    }),
  )
})
afterEach(async () => {
  await app.close()
})

describe('createServiceApp', () => {
  it('validates strictly: no coercion of "100" to a number, no silent dropping of unknown properties', async () => {
    expect((await app.inject({ method: 'POST', url: '/api/amount', payload: { cents: 100 } })).json()).toEqual({
      status: 'ok',
      data: 100,
    })
    for (const payload of [{ cents: '100' }, { cents: 100, admin: true }]) {
      const response = await app.inject({ method: 'POST', url: '/api/amount', payload })
      expect(response.statusCode).toBe(400)
      expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_INVALID_INPUT' })
    }
  })

  it('takes an empty application/json body as no body, and still refuses broken or poisoned JSON', async () => {
    app.post('/api/no-body', async (request) => ({ status: 'ok', data: request.body ?? null }))
    const empty = await app.inject({
      method: 'POST',
      url: '/api/no-body',
      headers: { 'content-type': 'application/json' },
    })
    expect(empty.json()).toEqual({ status: 'ok', data: null })
    const broken = await app.inject({
      method: 'POST',
      url: '/api/no-body',
      payload: '{"a":',
      headers: { 'content-type': 'application/json' },
    })
    expect(broken.statusCode).toBe(400)
    const poisoned = await app.inject({
      method: 'POST',
      url: '/api/no-body',
      payload: '{"__proto__":{"admin":true}}',
      headers: { 'content-type': 'application/json' },
    })
    expect(poisoned.statusCode).toBe(400)
  })

  it('refuses bodies over the limit with 413', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/amount',
      payload: { cents: 1, pad: 'x'.repeat(BODY_LIMIT_BYTES) },
    })
    expect(response.statusCode).toBe(413)
  })

  it('answers unknown routes and malformed URLs in the error shape without echoing the URL', async () => {
    const missing = await app.inject({ url: '/api/nothing-here?token=eyJsecret' })
    expect(missing.statusCode).toBe(404)
    expect(missing.body).not.toContain('eyJsecret')
    const malformed = await app.inject({ url: '/api/%zz?token=eyJsecret' })
    expect(malformed.statusCode).toBe(400)
    expect(malformed.json().status).toBe('error')
    expect(malformed.body).not.toContain('eyJsecret')
  })

  it('answers /healthz as a liveness check, asking no database (readiness is another question)', async () => {
    const response = await app.inject({ url: '/healthz' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ status: 'ok' })
  })
})
