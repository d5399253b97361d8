import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client'
import type { ServiceName } from './access-token.js'
import { clientAddressOf } from './client-address.js'
import { slowClientDeadlines } from './service-app.js'

/** The management listener serves GET only; any body it is sent is refused past this. */
const MANAGEMENT_BODY_LIMIT_BYTES = 64

// Two things an operator reads, kept apart from the public API: Prometheus metrics, served on their own listener
// (MANAGEMENT_PORT) that the public port never answers for, and the audit trail, one JSON line per security event
// through the service's own logger (so it goes where the logs go, redacted the same way).

/** The security events both services log, by their stable `event` name (docs/operating.md#the-audit-trail). */
export type AuditEvent =
  | 'login.succeeded'
  | 'login.failed'
  | 'login.throttled'
  | 'user.registered'
  | 'refresh.rotated'
  | 'refresh.refused'
  | 'refresh.reuse_detected'
  | 'session.revoked'
  | 'logout.notice_delivered'
  | 'logout.notice_given_up'
  | 'backchannel.revocation_applied'
  | 'backchannel.notice_refused'
  | 'token.refused'

/** Whether the event is the system doing its job (`success`) or refusing someone (`failure`). */
const OUTCOMES: Record<AuditEvent, 'success' | 'failure'> = {
  'login.succeeded': 'success',
  'login.failed': 'failure',
  'login.throttled': 'failure',
  'user.registered': 'success',
  'refresh.rotated': 'success',
  'refresh.refused': 'failure',
  'refresh.reuse_detected': 'failure',
  'session.revoked': 'success',
  'logout.notice_delivered': 'success',
  'logout.notice_given_up': 'failure',
  'backchannel.revocation_applied': 'success',
  'backchannel.notice_refused': 'failure',
  'token.refused': 'failure',
}

/** Someone should look at these even with LOG_LEVEL=warn: a stolen refresh token, a logout that never arrived. */
const WARNING_EVENTS = new Set<AuditEvent>(['refresh.reuse_detected', 'logout.notice_given_up'])

/**
 * What an audit line may carry besides its event: ids and short reasons, never a secret. There is deliberately no
 * place for a username (people type passwords into that field), a token, a cookie or a password.
 */
export interface AuditFields {
  /** The user's id, when known. */
  sub?: string | undefined
  /** The login session's id (the access tokens' `sid`), when known. */
  sid?: string | undefined
  /** Why, in a word: `expired`, `revoked`, `address`, `logout`, … */
  reason?: string | undefined
  [detail: string]: string | number | boolean | undefined
}

/**
 * Writes one audit line through `log` (a request's logger carries its `reqId`), at info (a detected refresh-token
 * reuse and a logout notice given up at warn): `event`, `outcome` and the fields, with the message the event's name. For events with no request (the logout delivery worker).
 */
export function writeAuditLine(log: FastifyBaseLogger, event: AuditEvent, fields: AuditFields = {}): void {
  const line = { event, outcome: OUTCOMES[event], ...fields }
  if (WARNING_EVENTS.has(event)) log.warn(line, event)
  else log.info(line, event)
}

/**
 * Seconds; from a fast answer (a cached token check, under a millisecond) to a slow one (argon2 under load). The
 * default buckets of prom-client stop at 10 s and start at 5 ms, too coarse where most requests take less.
 */
const HTTP_DURATION_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export interface ServiceMetrics {
  /** This app's own registry (never prom-client's global one, so apps built side by side in tests stay apart). */
  registry: Registry
  /** Access and logout tokens refused, by kind and reason. */
  tokensRefused: Counter<'token' | 'reason'>
  /**
   * Serves `GET /metrics` on a listener of its own at host:port (0: any free port), until the app closes; resolves
   * with its address. Also starts the process metrics (CPU, memory, event-loop delay, GC), only then, as they cost.
   */
  listen(options: { host: string; port: number }): Promise<AddressInfo>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Prometheus metrics of this app, and the management listener that serves them. */
    metrics: ServiceMetrics
  }
  interface FastifyRequest {
    /** Writes one audit line for this request: its id and client address with the event and fields. */
    audit: (event: AuditEvent, fields?: AuditFields) => void
  }
}

async function observabilityPlugin(app: FastifyInstance, { serviceName }: { serviceName: ServiceName }) {
  const registry = new Registry()
  // Both services may be scraped under one job; every series says which one it came from.
  registry.setDefaultLabels({ service: serviceName })
  const requestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from the request arriving to the response sent, by method, route pattern and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: HTTP_DURATION_BUCKETS_SECONDS,
    registers: [registry],
  })
  const tokensRefused = new Counter({
    name: 'sso_tokens_refused_total',
    help: 'Access tokens (token="access") and logout tokens (token="logout") refused, by reason',
    labelNames: ['token', 'reason'] as const,
    registers: [registry],
  })
  let management: FastifyInstance | undefined

  async function listen({ host, port }: { host: string; port: number }): Promise<AddressInfo> {
    if (management) throw new Error('the management listener is already running')
    collectDefaultMetrics({ register: registry })
    // A Fastify of its own, not a route of the app: the public port must never answer /metrics, whatever a proxy
    // in front forwards. A scrape every few seconds logs nothing below warn; failures still reach the app's log.
    // The same slow-client deadlines as the app's public listener (createServiceApp sets connectionTimeout to its
    // request deadline): half a request must not hold a socket here either. Nothing here takes a body.
    management = Fastify({
      loggerInstance: app.log.child({ component: 'management' }),
      bodyLimit: MANAGEMENT_BODY_LIMIT_BYTES,
      ...slowClientDeadlines(app.initialConfig.connectionTimeout || undefined),
    })
    management.get('/metrics', { logLevel: 'warn' }, async (_request, reply) =>
      reply.type(registry.contentType).send(await registry.metrics()),
    )
    await management.listen({ host, port })
    return management.server.address() as AddressInfo
  }

  app.decorate('metrics', { registry, tokensRefused, listen })
  app.decorateRequest('audit', function (this: FastifyRequest, event: AuditEvent, fields: AuditFields = {}) {
    // The address the per-address budgets count (X-Forwarded-For only from TRUST_PROXY, and only an IP address).
    writeAuditLine(this.log, event, { ...fields, clientAddress: clientAddressOf(this) })
  })
  // One histogram observation per response: no I/O on the hot path. Unmatched URLs share one label, so a scan of
  // random paths cannot grow the series without bound.
  app.addHook('onResponse', async (request, reply) => {
    requestDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: reply.statusCode },
      reply.elapsedTime / 1000,
    )
  })
  app.addHook('onClose', async () => {
    await management?.close()
  })
}

/**
 * Metrics and audit for one service: `app.metrics` (its registry, the HTTP request histogram, the refused-token
 * counter, the management listener) and `request.audit(event, fields)`. Written here rather than with
 * fastify-metrics, which keeps its metrics in prom-client's global registry unless every metric is overridden one by
 * one: two apps in one test process would then share (and double-register) them.
 */
export const observability = fp(observabilityPlugin, { name: 'sso-observability', fastify: '5.x' })
