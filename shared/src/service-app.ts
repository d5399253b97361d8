import { type TypeBoxTypeProvider, TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance } from 'fastify'
import type { CommonConfig } from './config.js'
import { replyNotFound, replyWithoutInternals } from './error-handler.js'
import { HealthResponse } from './schemas.js'

/** Credentials, tokens and small amounts are all either service is ever sent; anything bigger is a 413. */
export const BODY_LIMIT_BYTES = 16 * 1024

/**
 * The Fastify instance both services start from, so they cannot drift apart on what matters to security: redacted
 * logs, which proxies are believed, the body limit, strict validation and one error shape.
 */
export function createServiceApp(config: Pick<CommonConfig, 'LOG_LEVEL' | 'TRUST_PROXY'>) {
  const app = Fastify({
    logger: {
      level: config.LOG_LEVEL,
      // Tokens travel in these headers; a log line must never be enough to act as the user.
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
        censor: '[redacted]',
      },
    },
    // Without named proxies, X-Forwarded-For is ignored and the socket's address is the client's (rate limits, logs).
    trustProxy: config.TRUST_PROXY.length > 0 ? config.TRUST_PROXY : false,
    bodyLimit: BODY_LIMIT_BYTES,
    // Refusals before routing (a malformed URL) get the contract's error shape too, without the URL echoed.
    frameworkErrors: replyWithoutInternals,
  }).withTypeProvider<TypeBoxTypeProvider>()
  // `Content-Type: application/json` with no body (a client's habit on POST /api/logout or /api/refresh) is no body,
  // not a 400; anything else still goes through Fastify's own parser and its prototype-poisoning checks.
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined)
    else parseJson(request, body.toString(), done)
  })
  // TypeBox's own checker: no type coercion ("100" is not a number) and no silent removal of unknown properties.
  app.setValidatorCompiler(TypeBoxValidatorCompiler)
  app.setErrorHandler(replyWithoutInternals)
  app.setNotFoundHandler(replyNotFound)
  return app
}

/**
 * `GET /healthz`: a liveness check. It exists once the app is built, that is once its database has opened and
 * migrated, and then answers without I/O: a PostgreSQL hiccup must not get every replica restarted by its
 * orchestrator (whether the database answers is a readiness question).
 */
export function addHealthCheck(app: FastifyInstance) {
  app.get('/healthz', { schema: { response: { 200: HealthResponse } } }, async () => ({ status: 'ok' as const }))
}
