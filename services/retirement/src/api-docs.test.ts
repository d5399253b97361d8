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

// The JSON routes outside /api that belong in the document too: the health check, and the bank's logout notices.
const OTHER_JSON_ROUTES = ['GET /healthz', 'GET /readyz', 'POST /backchannel/logout']

describe('the OpenAPI document at /docs/json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const document = await fetchValidApiDocument(app)
    expect(document.openapi).toBe('3.1.0')
  })

  it('describes every /api route, the health check and the back-channel logout, and no page or form', async () => {
    const document = await fetchValidApiDocument(app)
    const jsonRoutes = registeredRoutes(app).filter((route) => route.split(' ')[1]?.startsWith('/api/'))
    expect(jsonRoutes).toContain('POST /api/plan/contributions')
    expect([...documentedOperations(document).keys()].sort()).toEqual([...jsonRoutes, ...OTHER_JSON_ROUTES].sort())
  })

  it('gives every operation its request schemas, its success schema and the shared error shape', async () => {
    const operations = documentedOperations(await fetchValidApiDocument(app))
    const problems = [...operations].flatMap(([key, operation]) =>
      describeMissingSchemas(key, operation, { takesBody: key.startsWith('POST ') }),
    )
    expect(problems).toEqual([])
  })

  it('says which operations need an access token: exactly those refused without one', async () => {
    const operations = documentedOperations(await fetchValidApiDocument(app))
    for (const [key, operation] of operations) {
      const [method = '', path = ''] = key.split(' ')
      const response = await app.inject({ method: method as 'GET', url: path })
      const refusedForNoToken = response.statusCode === 401 && response.json().code === 'SSO_TOKEN_MISSING'
      expect({ key, security: operation.security }).toEqual({
        key,
        security: refusedForNoToken ? [{ bearerToken: [] }, { accessTokenCookie: [] }] : undefined,
      })
    }
  })

  it('documents the back-channel logout as the form-encoded post the bank sends', async () => {
    const logout = documentedOperations(await fetchValidApiDocument(app)).get('POST /backchannel/logout')
    expect(Object.keys(logout?.requestBody?.content ?? {})).toEqual(['application/x-www-form-urlencoded'])
  })

  it('holds nothing of the configuration: no secret, no URL, no file path', async () => {
    const config = createTestConfig()
    const text = (await app.inject({ url: '/docs/json' })).body
    for (const value of [
      config.JWT_SECRET,
      config.DATABASE_PATH,
      config.BANK_PUBLIC_URL,
      config.RETIREMENT_PUBLIC_URL,
    ]) {
      expect(text).not.toContain(value)
    }
  })
})

describe('the interactive page at /docs', () => {
  it('is served with a CSP that lets its own scripts run, while the plan page and the API keep the strict one', async () => {
    const docs = await app.inject({ url: '/docs' })
    expect(docs.statusCode).toBe(200)
    expect(docs.headers['content-type']).toMatch(/^text\/html/)
    expect(docs.headers['content-security-policy']).toContain("script-src 'self'")
    for (const url of ['/', '/api/plan', '/docs-not']) {
      const csp = String((await app.inject({ url })).headers['content-security-policy'])
      expect(csp, url).toContain("default-src 'none'")
      expect(csp, url).not.toContain('script-src')
    }
  })
})
