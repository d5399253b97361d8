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
 * Spends one refresh from the address's budget and, for a token the bank really issued, from its session's; throws
 * a 429 error with Retry-After when either is exhausted. Counted with @fastify/rate-limit's `createRateLimit` (two
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

  return async function spendRefreshBudget(request: FastifyRequest, presentedToken: string): Promise<void> {
    refuseWhenExceeded(await perAddress(request))
    const sessionId = findIssuedSession(presentedToken)
    if (sessionId === undefined) return
    ;(request as SessionKeyed)[SESSION_KEY] = sessionId
    refuseWhenExceeded(await perSession(request))
  }
}
export type SpendRefreshBudget = ReturnType<typeof createRefreshBudget>

// The key generator only sees the request: the verified session id travels on it under a private symbol.
const SESSION_KEY = Symbol('refresh budget session')
type SessionKeyed = FastifyRequest & { [SESSION_KEY]?: string }

function refuseWhenExceeded(result: Awaited<ReturnType<ReturnType<FastifyInstance['createRateLimit']>>>): void {
  if (result.isAllowed || !result.isExceeded) return
  throw withRetryAfter(new TooManyAttemptsError(String(result.ttlInSeconds)), result.ttlInSeconds)
}
