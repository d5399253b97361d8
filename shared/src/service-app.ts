import { type TypeBoxTypeProvider, TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { clientAddressOf } from './client-address.js'
import type { CommonConfig } from './config.js'
import { replyNotFound, replyWithoutInternals } from './error-handler.js'
import { NotReadyError } from './errors.js'
import { ErrorResponse, HealthResponse } from './schemas.js'

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

/**
 * Slow clients: the whole request within requestTimeoutMs (Node answers 408, or closes the socket), the headers
 * sooner, an idle kept-alive connection closed, and a socket on which nothing moves for as long as a whole request
 * may take (a client that stops reading its response) destroyed. Fastify options, for every listener of a service
 * (the public one and the management one alike).
 */
export function slowClientDeadlines(requestTimeoutMs: number = REQUEST_TIMEOUT_MS) {
  const headersTimeoutMs = Math.min(MAX_HEADERS_TIMEOUT_MS, requestTimeoutMs)
  return {
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: Math.min(MAX_KEEP_ALIVE_TIMEOUT_MS, requestTimeoutMs),
    connectionTimeout: requestTimeoutMs,
    http: {
      requestTimeout: requestTimeoutMs,
      headersTimeout: headersTimeoutMs,
      connectionsCheckingInterval: Math.min(MAX_CONNECTIONS_CHECK_INTERVAL_MS, Math.ceil(headersTimeoutMs / 4)),
    },
  }
}

/**
 * The request as a log line shows it: Fastify's default fields, but the path without its query string (a query can
 * carry a `return_to`, a code or worse) and the client address the budgets count.
 */
function serializeRequest(request: FastifyRequest) {
  const queryAt = request.url.indexOf('?')
  return {
    method: request.method,
    url: queryAt === -1 ? request.url : request.url.slice(0, queryAt),
    host: request.host,
    remoteAddress: clientAddressOf(request),
    remotePort: request.socket?.remotePort,
  }
}

// JSON escapes C0 control characters but not DEL and C1 (U+0080–U+009F): U+009B is a terminal's CSI, so a `Host`
// header or a trusted hop's X-Forwarded-For could move the cursor of whoever reads the log in a terminal. Each
// written line is tested once (a clean line, nearly all of them, costs one regex scan) and escaped only when needed;
// inside a JSON string `\u009b` is the same character, so the line stays valid JSON.
const UNSAFE_IN_TERMINALS = /[\u007f-\u009f]/
const UNSAFE_IN_TERMINALS_ALL = /[\u007f-\u009f]/g

function escapeControlCharacters(line: string): string {
  if (!UNSAFE_IN_TERMINALS.test(line)) return line
  return line.replace(
    UNSAFE_IN_TERMINALS_ALL,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

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
  const app = Fastify({
    logger: {
      level: config.LOG_LEVEL,
      // Tokens travel in these headers; a log line must never be enough to act as the user.
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
        censor: '[redacted]',
      },
      serializers: { req: serializeRequest },
      hooks: { streamWrite: escapeControlCharacters },
    },
    // Without named proxies, X-Forwarded-For is ignored and the socket's address is the client's (rate limits, logs).
    trustProxy: config.TRUST_PROXY.length > 0 ? config.TRUST_PROXY : false,
    bodyLimit: BODY_LIMIT_BYTES,
    ...slowClientDeadlines(requestTimeoutMs),
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

/**
 * One thing a replica needs before it may be sent requests. `check` resolves to undefined when it holds, or to the
 * reason it does not (a sentence safe for anyone to read, sent in the 503); it may also throw, whose error is logged
 * and never sent.
 */
export interface ReadinessCheck {
  /** Names it in the 503 when it throws or takes too long: "the database". */
  name: string
  check(): Promise<string | undefined> | string | undefined
}

/** A check that has not answered within this long counts as failed: a load balancer's probe must not hang. */
export const READINESS_TIMEOUT_MS = 1_000

/**
 * `GET /readyz`: a readiness check for a load balancer. 200 `{"status":"ok"}` when every check holds, else 503 in the
 * error shape naming the first that does not (`SSO_NOT_READY`). Probes arriving while a check runs share its answer,
 * so a flood of probes costs the database one query at a time, not one per probe.
 */
export function addReadinessCheck(
  app: FastifyInstance,
  checks: readonly ReadinessCheck[],
  { timeoutMs = READINESS_TIMEOUT_MS }: { timeoutMs?: number } = {},
) {
  let inFlight: Promise<string | undefined> | undefined

  async function runCheck({ name, check }: ReadinessCheck): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<string>((resolve) => {
      timer = setTimeout(resolve, timeoutMs, `${name} did not answer within ${timeoutMs} ms`)
    })
    try {
      return await Promise.race([Promise.resolve().then(check), timedOut])
    } catch (error) {
      // The driver's message may name hosts or users: it goes to the log, the client gets the sentence.
      app.log.warn({ err: error, check: name }, 'readiness check failed')
      return `${name} does not answer`
    } finally {
      clearTimeout(timer)
    }
  }

  async function firstReason(): Promise<string | undefined> {
    const reasons = await Promise.all(checks.map(runCheck))
    return reasons.find((reason) => reason !== undefined)
  }

  app.get(
    '/readyz',
    {
      schema: {
        description:
          'Readiness, for a load balancer: 200 when this replica may be sent requests, 503 when it may not ' +
          '(its database does not answer, or its view of shared state is not current). `/healthz` is liveness.',
        response: { 200: HealthResponse, 503: ErrorResponse },
      },
    },
    async () => {
      inFlight ??= firstReason().finally(() => {
        inFlight = undefined
      })
      const reason = await inFlight
      if (reason !== undefined) throw new NotReadyError(reason)
      return { status: 'ok' as const }
    },
  )
}
