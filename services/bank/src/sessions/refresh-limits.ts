import { clientAddressKey, TooManyAttemptsError, withRetryAfter } from '@sso/shared'
import type { FastifyInstance, FastifyRequest } from 'fastify'

// Refresh is cheap for the bank but writes a row each time, and a client stuck in a loop (300 refreshes in 0.43 s
// were measured before these limits) should be told to stop. Twenty tabs coming back at once must still get
// through, so the per-session budget is well above 20; the per-address one is wider again, for many people behind
// one NAT (each refreshes about once per access-token lifetime, 15 minutes).

/** Refreshes of one login session (POST /api/refresh and the pages' silent refresh together). */
export const REFRESHES_PER_SESSION = { max: 30, timeWindowMs: 60_000 }
/** Refreshes from one client address, whatever token they carry. */
export const REFRESHES_PER_ADDRESS = { max: 300, timeWindowMs: 60_000 }

/**
 * The address's budget and, for a token the bank really issued, its session's; a 429 error with Retry-After when
 * either is exhausted. Counted with @fastify/rate-limit's `createRateLimit` (two
 * counters for one request, which a route's single `config.rateLimit` cannot express), in the bank's shared store.
 *
 * The session is only the one a genuine token names (`findIssuedSession` checks its MAC): keyed on the sid of any
 * presented string, anyone who knows a session id could spend that session's budget and lock its user out.
 */
export function createRefreshBudget(
  app: FastifyInstance,
  { findIssuedSession }: { findIssuedSession: (presentedToken: string) => string | undefined },
) {
  const perAddress = app.createRateLimit({
    max: REFRESHES_PER_ADDRESS.max,
    timeWindow: REFRESHES_PER_ADDRESS.timeWindowMs,
    // The key of every per-address budget: an IPv6 client by its /64, a mapped IPv4 address as the IPv4 one.
    keyGenerator: (request) => `refresh-address:${clientAddressKey(request)}`,
  })
  const perSession = app.createRateLimit({
    max: REFRESHES_PER_SESSION.max,
    timeWindow: REFRESHES_PER_SESSION.timeWindowMs,
    keyGenerator: (request) => `refresh-session:${(request as SessionKeyed)[SESSION_KEY]}`,
  })

  /**
   * Spends one refresh of the address's budget and checks, without spending, the session's; returns what charges the
   * session once the rotation has happened. A grace replay (a tab coming back with the token another tab has just
   * rotated, answered with the same successor) is not charged to the session: thirty tabs restored at once, then the
   * next ordinary refresh, all succeed. It still spends the address's budget, the one bound on a replay loop.
   */
  return async function spendRefreshBudget(request: FastifyRequest, presentedToken: string): Promise<ChargeRotation> {
    refuseWhenExceeded(await perAddress(request))
    const sessionId = findIssuedSession(presentedToken)
    if (sessionId === undefined) return async () => {}
    ;(request as SessionKeyed)[SESSION_KEY] = sessionId
    const session = await perSession(request, { increment: false })
    // Read, not spent: one more rotation would exceed the budget when none remains.
    if (!session.isAllowed && session.remaining === 0) refuseWhenExceeded({ ...session, isExceeded: true })
    return async () => {
      await perSession(request)
    }
  }
}
/** Charges the session's budget for a rotation that really happened. */
export type ChargeRotation = () => Promise<void>
export type SpendRefreshBudget = ReturnType<typeof createRefreshBudget>

// The key generator only sees the request: the verified session id travels on it under a private symbol.
const SESSION_KEY = Symbol('refresh budget session')
type SessionKeyed = FastifyRequest & { [SESSION_KEY]?: string }

function refuseWhenExceeded(result: Awaited<ReturnType<ReturnType<FastifyInstance['createRateLimit']>>>): void {
  if (result.isAllowed || !result.isExceeded) return
  throw withRetryAfter(new TooManyAttemptsError(String(result.ttlInSeconds)), result.ttlInSeconds)
}
