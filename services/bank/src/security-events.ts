import { type AuditFields, type ServiceMetrics, writeAuditLine } from '@sso/shared'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { Counter, Gauge } from 'prom-client'

/** What the outbox gauges read at scrape time: how many notices wait, and when the oldest was written. */
export interface OutboxBacklog {
  pending: number
  /** Milliseconds since the epoch; undefined when nothing waits. */
  oldestCreatedAtMs: number | undefined
}

export interface BankSecurityEventsOptions {
  metrics: ServiceMetrics
  /** One cheap query (a count and a min over a small table), run once per scrape. */
  readOutboxBacklog: () => Promise<OutboxBacklog>
  /** Where a failed backlog query is reported. */
  log: FastifyBaseLogger
  /** The password-hashing limiter's load right now. */
  passwordWork: () => { running: number; queued: number }
  /** How many hashes may wait before sign-ins are refused with 503. */
  passwordWorkMaxQueued: number
}

/**
 * The bank's security events, each recorded once here as both its audit line and its metric, so the two can never
 * disagree. Every method that takes a request writes through its logger (request id, client address).
 */
export function createBankSecurityEvents({
  metrics,
  readOutboxBacklog,
  passwordWork,
  passwordWorkMaxQueued,
  log,
}: BankSecurityEventsOptions) {
  const registers = [metrics.registry]
  const logins = new Counter({
    name: 'sso_logins_total',
    help: 'Login attempts (JSON API and form), by outcome: succeeded, failed, throttled, busy',
    labelNames: ['outcome'] as const,
    registers,
  })
  const registrations = new Counter({
    name: 'sso_registrations_total',
    help: 'Sign-ups, by outcome: created, taken (the username exists), throttled',
    labelNames: ['outcome'] as const,
    registers,
  })
  const refreshes = new Counter({
    name: 'sso_refreshes_total',
    help: 'Refresh-token presentations, by outcome: rotated, replayed (grace window), reuse_detected, refused, throttled',
    labelNames: ['outcome'] as const,
    registers,
  })
  const sessionsRevoked = new Counter({
    name: 'sso_sessions_revoked_total',
    help: 'Login sessions ended, by cause: logout, logout_everywhere, ended_from_list, new_login, reuse_detected',
    labelNames: ['cause'] as const,
    registers,
  })
  const noticesDelivered = new Counter({
    name: 'sso_logout_notices_delivered_total',
    help: 'Back-channel logout notices delivered (answered 2xx)',
    registers,
  })
  const noticeFailures = new Counter({
    name: 'sso_logout_notice_failures_total',
    help: 'Back-channel logout attempts that failed (non-2xx or no answer) and will be retried',
    registers,
  })
  const noticesGivenUp = new Counter({
    name: 'sso_logout_notices_given_up_total',
    help: 'Back-channel logout notices dropped undelivered once every access token they concern had expired',
    registers,
  })
  const passwordHashingRefused = new Counter({
    name: 'sso_password_hashing_refused_total',
    help: 'Password hashes refused with 503 because the queue was full',
    registers,
  })

  // Both outbox gauges come from one query per scrape: prom-client collects every metric at once, so the first
  // gauge's collect starts it and the second joins it. A database that does not answer makes both gauges NaN (and
  // logs why) instead of failing the whole scrape: the process and HTTP metrics matter most just then.
  let backlog: Promise<OutboxBacklog> | undefined
  const readBacklogOnce = () => {
    backlog ??= readOutboxBacklog()
      .catch((error: unknown) => {
        log.warn({ err: error }, 'reading the logout outbox backlog for /metrics failed')
        return { pending: Number.NaN, oldestCreatedAtMs: Number.NaN }
      })
      .finally(() => setImmediate(() => (backlog = undefined)))
    return backlog
  }
  new Gauge({
    name: 'sso_logout_notices_pending',
    help: 'Back-channel logout notices not delivered yet (all replicas: read from the database)',
    registers,
    async collect() {
      this.set((await readBacklogOnce()).pending)
    },
  })
  new Gauge({
    name: 'sso_logout_notice_oldest_pending_age_seconds',
    help: 'Age of the oldest undelivered logout notice, from its revocation; 0 when none waits',
    registers,
    async collect() {
      const { oldestCreatedAtMs } = await readBacklogOnce()
      this.set(oldestCreatedAtMs === undefined ? 0 : Math.max(0, (Date.now() - oldestCreatedAtMs) / 1000))
    },
  })
  new Gauge({
    name: 'sso_password_hashing_running',
    help: 'argon2 hashes or verifications running on this replica now',
    registers,
    collect() {
      this.set(passwordWork().running)
    },
  })
  new Gauge({
    name: 'sso_password_hashing_queued',
    help: 'argon2 hashes or verifications waiting for a thread on this replica now',
    registers,
    collect() {
      this.set(passwordWork().queued)
    },
  })
  new Gauge({
    name: 'sso_password_hashing_queue_limit',
    help: 'How many may wait before sign-ins get 503 SSO_BUSY',
    registers,
  }).set(passwordWorkMaxQueued)

  const revoked = (request: FastifyRequest, cause: string, fields: AuditFields) => {
    sessionsRevoked.inc({ cause })
    request.audit('session.revoked', { ...fields, reason: cause })
  }

  return {
    loginSucceeded(request: FastifyRequest, sub: string, sid: string) {
      logins.inc({ outcome: 'succeeded' })
      request.audit('login.succeeded', { sub, sid })
    },
    /** `sub` when the username names an account (the username itself is never logged: people type passwords there). */
    loginFailed(request: FastifyRequest, sub: string | undefined) {
      logins.inc({ outcome: 'failed' })
      request.audit('login.failed', { sub, reason: sub === undefined ? 'unknown_user' : 'wrong_password' })
    },
    /** `limit`: `username` (its failures) or `address` (the client's attempts). */
    loginThrottled(request: FastifyRequest, limit: 'username' | 'address') {
      logins.inc({ outcome: 'throttled' })
      request.audit('login.throttled', { reason: limit })
    },
    /** Refused before any password was checked: overload, not an attack on anyone. Counted, not audited. */
    passwordWorkRefused(isLogin: boolean) {
      passwordHashingRefused.inc()
      if (isLogin) logins.inc({ outcome: 'busy' })
    },
    userRegistered(request: FastifyRequest, sub: string) {
      registrations.inc({ outcome: 'created' })
      request.audit('user.registered', { sub })
    },
    registrationRefused(outcome: 'taken' | 'throttled') {
      registrations.inc({ outcome })
    },
    refreshRotated(request: FastifyRequest, sub: string, sid: string, replayed: boolean) {
      refreshes.inc({ outcome: replayed ? 'replayed' : 'rotated' })
      request.audit('refresh.rotated', { sub, sid, replayed })
    },
    refreshRefused(request: FastifyRequest) {
      refreshes.inc({ outcome: 'refused' })
      request.audit('refresh.refused')
    },
    refreshThrottled() {
      refreshes.inc({ outcome: 'throttled' })
    },
    /** An older refresh token of the session came back: theft, and the session is revoked. */
    refreshReuseDetected(request: FastifyRequest, sid: string) {
      refreshes.inc({ outcome: 'reuse_detected' })
      request.audit('refresh.reuse_detected', { sid })
      revoked(request, 'reuse_detected', { sid })
    },
    sessionRevoked(request: FastifyRequest, cause: string, fields: AuditFields) {
      revoked(request, cause, fields)
    },
    /** A logout notice posted and answered 2xx, from the delivery worker (no request). */
    noticeDelivered(log: FastifyBaseLogger, fields: AuditFields) {
      noticesDelivered.inc()
      writeAuditLine(log, 'logout.notice_delivered', fields)
    },
    noticeFailed() {
      noticeFailures.inc()
    },
    noticeGivenUp(log: FastifyBaseLogger, fields: AuditFields) {
      noticesGivenUp.inc()
      writeAuditLine(log, 'logout.notice_given_up', fields)
    },
  }
}
export type BankSecurityEvents = ReturnType<typeof createBankSecurityEvents>
