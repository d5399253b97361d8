import { type TypeBoxTypeProvider, TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance } from 'fastify'
import type { CommonConfig } from './config.js'
import { replyNotFound, replyWithoutInternals } from './error-handler.js'
import { HealthResponse } from './schemas.js'

/** Credentials, tokens and small amounts are all either service is ever sent; anything bigger is a 413. */
export const BODY_LIMIT_BYTES = 16 * 1024

/**
 * docs/spec.md#requests-and-responses: a client that has not sent its whole request (headers and body) within 30 s is answered 408 or
 * disconnected. Without it (Fastify's default of 0 also switches off Node's own 300 s), a few hundred connections
 * that each sent half a request held every file descriptor of the process for as long as the attacker liked.
 */
export const REQUEST_TIMEOUT_MS = 30_000
/** Headers are a few hundred bytes: a client still sending them after 10 s is not a browser on a slow line. */
const MAX_HEADERS_TIMEOUT_MS = 10_000
/**
 * An idle connection between requests is closed after this long. Browsers reuse a connection within seconds; a
 * proxy in front must close its idle upstream connections sooner than this (or retry), as with any Node server.
 */
const MAX_KEEP_ALIVE_TIMEOUT_MS = 10_000
/** Node checks the request and header deadlines only this often (its default is 30 s, doubling the deadline). */
const MAX_CONNECTIONS_CHECK_INTERVAL_MS = 1_000

export interface ServiceAppOptions {
  /** The deadline for a whole request, headers and body; tests shorten it. The others are derived from it. */
  requestTimeoutMs?: number
}

/**
 * The Fastify instance both services start from, so they cannot drift apart on what matters to security: redacted
 * logs, which proxies are believed, the body limit, the deadlines of slow clients, strict validation and one error
 * shape.
 */
export function createServiceApp(
  config: Pick<CommonConfig, 'LOG_LEVEL' | 'TRUST_PROXY'>,
  { requestTimeoutMs = REQUEST_TIMEOUT_MS }: ServiceAppOptions = {},
) {
  const headersTimeoutMs = Math.min(MAX_HEADERS_TIMEOUT_MS, requestTimeoutMs)
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
    // Slow clients: the whole request within requestTimeoutMs (Node answers 408, or closes the socket), the headers
    // sooner, an idle kept-alive connection closed, and a socket on which nothing moves for as long as a whole
    // request may take (a client that stops reading its response) destroyed.
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: Math.min(MAX_KEEP_ALIVE_TIMEOUT_MS, requestTimeoutMs),
    connectionTimeout: requestTimeoutMs,
    http: {
      requestTimeout: requestTimeoutMs,
      headersTimeout: headersTimeoutMs,
      connectionsCheckingInterval: Math.min(MAX_CONNECTIONS_CHECK_INTERVAL_MS, Math.ceil(headersTimeoutMs / 4)),
    },
    // Refusals before routing (a malformed URL) get the error shape of docs/spec.md#errors too, without the URL echoed.
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
