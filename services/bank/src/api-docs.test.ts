import {
  describeMissingSchemas,
  documentedOperations,
  fetchValidApiDocument,
  registeredRoutes,
} from '@sso/shared/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { App } from './app.js'
import { buildTestApp, createTestConfig } from './test-app.js'

let app: App
beforeEach(async () => {
  app = await buildTestApp()
})
afterEach(async () => {
  await app.close()
})

// The JSON routes outside /api that belong in the document too.
const OTHER_JSON_ROUTES = ['GET /healthz', 'GET /readyz', 'GET /.well-known/jwks.json']
// POST routes that take no body at all: the refresh cookie is the whole request.
const BODILESS_POSTS = new Set(['POST /api/refresh'])

describe('the OpenAPI document at /docs/json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const document = await fetchValidApiDocument(app)
    expect(document.openapi).toBe('3.1.0')
  })

  it('describes every /api route and the health check, and no page, form or file', async () => {
    const document = await fetchValidApiDocument(app)
    const jsonRoutes = registeredRoutes(app).filter((route) => route.split(' ')[1]?.startsWith('/api/'))
    expect(jsonRoutes).toContain('DELETE /api/sessions/{id}')
    expect([...documentedOperations(document).keys()].sort()).toEqual([...jsonRoutes, ...OTHER_JSON_ROUTES].sort())
  })

  it('gives every operation its request schemas, its success schema and the shared error shape', async () => {
    const operations = documentedOperations(await fetchValidApiDocument(app))
    const problems = [...operations].flatMap(([key, operation]) =>
      describeMissingSchemas(key, operation, { takesBody: key.startsWith('POST ') && !BODILESS_POSTS.has(key) }),
    )
    expect(problems).toEqual([])
  })

  it('says which operations need an access token: exactly those refused without one', async () => {
    const operations = documentedOperations(await fetchValidApiDocument(app))
    for (const [key, operation] of operations) {
      const [method = '', path = ''] = key.split(' ')
      const response = await app.inject({ method: method as 'GET', url: path.replace(/\{\w+\}/g, 'x') })
      const refusedForNoToken = response.statusCode === 401 && response.json().code === 'SSO_TOKEN_MISSING'
      expect({ key, security: operation.security }).toEqual({
        key,
        security: refusedForNoToken ? [{ bearerToken: [] }, { accessTokenCookie: [] }] : undefined,
      })
    }
  })

  it("optional body: POST /api/logout may be sent without one, and the schema names no 'undefined' type", async () => {
    const logout = documentedOperations(await fetchValidApiDocument(app)).get('POST /api/logout')
    expect(logout?.requestBody?.required).toBe(false)
    expect(logout?.requestBody?.content?.['application/json']?.schema).toMatchObject({
      type: 'object',
      properties: { everywhere: { type: 'boolean' } },
    })
  })

  it('holds nothing of the configuration: no secret, no URL, no file path', async () => {
    const text = (await app.inject({ url: '/docs/json' })).body
    const configuredValues = [
      createTestConfig().JWT_SECRET,
      createTestConfig().DATABASE_PATH,
      createTestConfig().BANK_PUBLIC_URL,
      createTestConfig().RETIREMENT_PUBLIC_URL,
      ...createTestConfig().BACKCHANNEL_LOGOUT_URLS,
    ]
    for (const value of configuredValues) expect(text).not.toContain(value)
  })
})

describe('the interactive page at /docs', () => {
  it('is served with a CSP that lets its own scripts run, and only its own', async () => {
    const response = await app.inject({ url: '/docs' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/^text\/html/)
    const csp = String(response.headers['content-security-policy'])
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).not.toContain('unsafe')
    const script = /<script src="([^"]+swagger-ui-bundle\.js)"/.exec(response.body)?.[1]
    expect(script).toBeDefined()
    const bundle = await app.inject({ url: script })
    expect(bundle.statusCode).toBe(200)
    expect(bundle.headers['content-type']).toMatch(/javascript/)
  })

  it('leaves every other page and answer on the strict CSP, which allows no script', async () => {
    for (const url of ['/', '/login', '/api/me', '/nothing-here', '/docs-not']) {
      const csp = String((await app.inject({ url })).headers['content-security-policy'])
      expect(csp, url).toContain("default-src 'none'")
      expect(csp, url).not.toContain('script-src')
    }
  })
})
