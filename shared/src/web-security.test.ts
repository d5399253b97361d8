import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ssoAuth } from './auth-plugin.js'
import { replyWithoutInternals } from './error-handler.js'
import { createKeyring } from './keyring.js'
import { webSecurity } from './web-security.js'

let app: FastifyInstance
beforeEach(async () => {
  app = Fastify({ bodyLimit: 1024 })
  app.setErrorHandler(replyWithoutInternals)
  const cookies = { secure: false }
  await app.register(ssoAuth, {
    keyring: createKeyring('web-security-test-secret-0123456789-abcdefghijk'),
    audience: 'bank',
    cookies,
  })
  await app.register(webSecurity, {
    serviceName: 'bank',
    publicUrls: ['http://localhost:3000', 'http://localhost:3001/'],
    cookies,
  })
  app.post('/api/echo', async (request) => ({ status: 'ok', data: request.body ?? null }))
  app.delete('/api/thing', async (_request, reply) => reply.code(204).send())
  app.get('/form', async (_request, reply) => reply.type('text/html').send(`<form>${reply.generateCsrf()}</form>`))
  app.post('/form', { preValidation: app.csrfProtection }, async () => ({ accepted: true }))
  app.get('/boom', async () => {
    throw new Error('SELECT * FROM users WHERE password_hash = secret')
  })
})
afterEach(async () => {
  await app.close()
})

describe('the JSON API rule', () => {
  it('accepts JSON from the two public origins and from clients that send no Origin', async () => {
    for (const origin of ['http://localhost:3000', 'http://localhost:3001', undefined]) {
      const response = await app.inject({
        method: 'POST',
        url: '/api/echo',
        payload: { a: 1 },
        headers: origin ? { origin } : {},
      })
      expect(response.statusCode).toBe(200)
    }
  })

  it.each([
    ['text/plain', 'a=1'],
    ['application/x-www-form-urlencoded', 'a=1'],
    ['multipart/form-data; boundary=x', '--x--'],
    ['application/x-www-form-urlencoded', ''],
  ])('refuses %s with 415, even with an empty body', async (contentType, payload) => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/echo',
      payload,
      headers: { 'content-type': contentType },
    })
    expect(response.statusCode).toBe(415)
    expect(response.json()).toMatchObject({ status: 'error', error: 'Send the request body as application/json' })
  })

  it('applies the same rules to a percent-encoded path that routes to /api', async () => {
    const encoded = await app.inject({
      method: 'POST',
      url: '/%61pi/echo',
      payload: 'a=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect(encoded.statusCode).toBe(415)
    const foreign = await app.inject({
      method: 'DELETE',
      url: '/%61pi/thing',
      headers: { origin: 'https://evil.example' },
    })
    expect(foreign.statusCode).toBe(403)
  })

  it('refuses a cookie-authenticated write from a foreign Origin with 403', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/echo',
      payload: { a: 1 },
      headers: { origin: 'http://localhost:3000.evil.example' },
    })
    expect(response.statusCode).toBe(403)
    const deletion = await app.inject({
      method: 'DELETE',
      url: '/api/thing',
      headers: { origin: 'https://evil.example' },
    })
    expect(deletion.statusCode).toBe(403)
  })

  it('lets a Bearer-authenticated write through whatever its Origin, since no browser attaches that header', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/echo',
      payload: { a: 1 },
      headers: { origin: 'https://evil.example', authorization: 'Bearer x' },
    })
    expect(response.statusCode).toBe(200)
  })

  it('answers 413 for a body over the limit and 400 for broken JSON', async () => {
    const huge = await app.inject({ method: 'POST', url: '/api/echo', payload: { a: 'x'.repeat(2048) } })
    expect(huge.statusCode).toBe(413)
    const broken = await app.inject({
      method: 'POST',
      url: '/api/echo',
      payload: '{"a":',
      headers: { 'content-type': 'application/json' },
    })
    expect(broken.statusCode).toBe(400)
    expect(broken.json().status).toBe('error')
  })
})

describe('forms', () => {
  it('refuses a form post without the CSRF token with 403, and accepts it with the token and its cookie', async () => {
    const missing = await app.inject({
      method: 'POST',
      url: '/form',
      payload: 'a=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect(missing.statusCode).toBe(403)
    const page = await app.inject({ url: '/form' })
    const token = page.body.replace(/<\/?form>/g, '')
    const secretCookie = page.cookies.find((cookie) => cookie.name === 'bank_csrf')
    expect(secretCookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' })
    const wrongToken = await app.inject({
      method: 'POST',
      url: '/form',
      payload: '_csrf=forged',
      cookies: { bank_csrf: secretCookie?.value ?? '' },
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect(wrongToken.statusCode).toBe(403)
    const accepted = await app.inject({
      method: 'POST',
      url: '/form',
      payload: `_csrf=${encodeURIComponent(token)}`,
      cookies: { bank_csrf: secretCookie?.value ?? '' },
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect(accepted.json()).toEqual({ accepted: true })
  })
})

describe('headers', () => {
  it('sends a CSP that forbids framing, plugins and scripts, plus nosniff, no-referrer and no-store', async () => {
    const response = await app.inject({ url: '/form' })
    const csp = response.headers['content-security-policy']
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).toContain("object-src 'none'")
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("form-action 'self' http://localhost:3000 http://localhost:3001")
    expect(response.headers['x-content-type-options']).toBe('nosniff')
    expect(response.headers['x-frame-options']).toBe('DENY')
    expect(response.headers['referrer-policy']).toBe('no-referrer')
    expect(response.headers['cache-control']).toBe('no-store')
    expect(response.headers['strict-transport-security']).toBeUndefined()
  })

  it('sends the same security headers on errors, and HSTS once cookies are Secure', async () => {
    for (const url of ['/boom', '/missing']) {
      const response = await app.inject({ url })
      expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'")
      expect(response.headers['x-content-type-options']).toBe('nosniff')
    }
    const secureApp = Fastify()
    const cookies = { secure: true }
    await secureApp.register(ssoAuth, {
      keyring: createKeyring('web-security-test-secret-0123456789-abcdefghijk'),
      audience: 'bank',
      cookies,
    })
    await secureApp.register(webSecurity, { serviceName: 'bank', publicUrls: ['https://bank.example'], cookies })
    const response = await secureApp.inject({ url: '/assets/app.css' })
    expect(response.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains')
    await secureApp.close()
  })

  it('serves the stylesheet the pages link to', async () => {
    const response = await app.inject({ url: '/assets/app.css' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toContain('text/css')
  })
})

describe('faults', () => {
  it('answers a 500 without the internal message', async () => {
    const response = await app.inject({ url: '/boom' })
    expect(response.statusCode).toBe(500)
    expect(response.body).not.toMatch(/SELECT|password_hash|secret|at .*\.ts/)
    expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_INTERNAL' })
  })
})
