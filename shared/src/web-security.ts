/// <reference types="@fastify/csrf-protection" preserve="true" />

import type { IncomingMessage, ServerResponse } from 'node:http'
import fastifyCsrfProtection from '@fastify/csrf-protection'
import fastifyFormbody from '@fastify/formbody'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'
import { isApiDocsRoute } from './api-docs.js'
import type { CookiePolicy } from './cookies.js'
import { createApiRequestGuard } from './csrf.js'
import { STYLESHEET } from './html.js'

/** Answers that hold nothing per-user and say how long they may be cached. */
const PUBLICLY_CACHED_ROUTES = new Set(['/assets/app.css', '/.well-known/jwks.json'])

export interface WebSecurityOptions {
  /** Names the service's CSRF cookie: on localhost both apps share one cookie jar (cookies ignore ports). */
  serviceName: string
  /** The two public URLs: the only origins allowed to post to either app. */
  publicUrls: readonly string[]
  cookies: CookiePolicy
}

/**
 * The headers helmet sets for these options, worked out once. @fastify/helmet builds helmet's middleware again, CSP
 * parsing included, for every request, and sets each header through Node's checks: measured by `npm run bench`,
 * that was two fifths of the CPU time of a small JSON answer.
 */
function computeSecurityHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader: (name: string, value: string) => {
      headers[name.toLowerCase()] = value
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()]
    },
  }
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error
  })
  return headers
}

async function webSecurityPlugin(app: FastifyInstance, { serviceName, publicUrls, cookies }: WebSecurityOptions) {
  const origins = publicUrls.map((url) => new URL(url).origin)
  // Every page allows no script at all. One exception, on its own routes only: the API docs page (Swagger UI) runs
  // its scripts and styles, all served by this service itself, and draws its icons from data: URLs.
  const strictDirectives = {
    defaultSrc: ["'none'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'"],
    // Chromium applies form-action to the redirect after a post too: login at the bank ends at retirement.
    formAction: ["'self'", ...origins],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    objectSrc: ["'none'"],
  }
  const otherHeaders: HelmetOptions = {
    // HSTS over plain http is ignored by browsers and would only confuse; send it when cookies are Secure.
    strictTransportSecurity: cookies.secure ? { maxAge: 31_536_000 } : false,
    referrerPolicy: { policy: 'no-referrer' },
    // The CSP's frame-ancestors 'none' is what browsers obey; the legacy header says the same for older ones.
    xFrameOptions: { action: 'deny' },
  }
  const securityHeaders = computeSecurityHeaders({
    contentSecurityPolicy: { useDefaults: false, directives: strictDirectives },
    ...otherHeaders,
  })
  const apiDocsHeaders = computeSecurityHeaders({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        ...strictDirectives,
        scriptSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        // "Try it out" calls this service's own API, nothing else.
        connectSrc: ["'self'"],
        formAction: ["'none'"],
      },
    },
    ...otherHeaders,
  })
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(isApiDocsRoute(request.routeOptions.url) ? apiDocsHeaders : securityHeaders)
    done()
  })
  await app.register(fastifyFormbody)
  await app.register(fastifyCsrfProtection, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: `${serviceName}_csrf`,
    cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true, secure: cookies.secure },
  })
  app.addHook('onRequest', createApiRequestGuard(origins))
  // app.close() (SIGTERM) reaps idle connections once; a keep-alive connection whose request is still in flight
  // would stay open after its answer for keepAliveTimeout (72 s) and hold the shutdown past its grace period.
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  // Pages and API answers are all per-user; no shared cache or back button may keep them. The stylesheet and the
  // bank's public keys are the same for everyone and set their own caching.
  app.addHook('onSend', async (request, reply) => {
    if (!PUBLICLY_CACHED_ROUTES.has(request.routeOptions.url ?? '')) reply.header('cache-control', 'no-store')
    if (closing) reply.header('connection', 'close')
  })
  app.get('/assets/app.css', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(STYLESHEET),
  )
}

/**
 * Security headers (CSP), form bodies, CSRF tokens for forms, the JSON API's CSRF rule, `no-store`, and
 * `Connection: close` on answers sent during shutdown.
 */
export const webSecurity = fp(webSecurityPlugin, {
  name: 'sso-web-security',
  fastify: '5.x',
  dependencies: ['sso-auth'],
})
