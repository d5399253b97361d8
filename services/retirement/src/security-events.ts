import type { LogoutNotice, ServiceMetrics } from '@sso/shared'
import type { FastifyRequest } from 'fastify'
import { Counter, Histogram } from 'prom-client'

// docs/spec.md#single-logout allows 15 s from the logout to the refusal here; the buckets put their detail below that.
const REVOCATION_DELAY_BUCKETS_SECONDS = [0.5, 1, 2, 3, 5, 10, 15, 30, 60]

/**
 * Retirement's security events beyond the refused access tokens (counted by the auth plugin): the bank's logout
 * notices, applied or refused, each recorded once as both its audit line and its metric; and contributions, added or
 * throttled, counted.
 */
export function createRetirementSecurityEvents(metrics: ServiceMetrics) {
  const registers = [metrics.registry]
  const revocationsApplied = new Counter({
    name: 'sso_backchannel_revocations_applied_total',
    help: 'Logout notices from the bank recorded (a session, or every session of a user, ended here)',
    registers,
  })
  const revocationDelay = new Histogram({
    name: 'sso_backchannel_revocation_delay_seconds',
    help: "Seconds from the logout token's iat (whole seconds, signed as it was posted) to the revocation recorded",
    buckets: REVOCATION_DELAY_BUCKETS_SECONDS,
    registers,
  })

  const contributions = new Counter({
    name: 'sso_contributions_total',
    help: 'Contributions asked for (JSON API and form), by outcome: added, throttled (the per-user limit)',
    labelNames: ['outcome'] as const,
    registers,
  })

  return {
    contributionAdded() {
      contributions.inc({ outcome: 'added' })
    },
    /** Over the per-user limit: counted, not audited, like the bank's throttled sign-ups and refreshes. */
    contributionThrottled() {
      contributions.inc({ outcome: 'throttled' })
    },
    revocationApplied(request: FastifyRequest, notice: LogoutNotice) {
      // `iat` has whole seconds, so this reads up to a second long; a clock behind the bank's reads 0, not less.
      const delaySeconds = Math.max(0, Date.now() / 1000 - notice.issuedAtSeconds)
      revocationsApplied.inc()
      revocationDelay.observe(delaySeconds)
      request.audit('backchannel.revocation_applied', {
        sub: notice.userId,
        sid: notice.sessionId,
        delaySeconds: Math.round(delaySeconds * 1000) / 1000,
      })
    },
    /** `invalid`: failed a check of the token; `replayed`: its `jti` was seen before. */
    noticeRefused(request: FastifyRequest, reason: 'invalid' | 'replayed') {
      metrics.tokensRefused.inc({ token: 'logout', reason })
      request.audit('backchannel.notice_refused', { reason })
    },
  }
}
export type RetirementSecurityEvents = ReturnType<typeof createRetirementSecurityEvents>
