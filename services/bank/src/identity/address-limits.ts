import type { RateLimitOptions } from '@fastify/rate-limit'

// Per client address, as Fastify's `request.ip` sees it: X-Forwarded-For is believed only from TRUST_PROXY.
// Wider than the per-username limit (10 failures), so people behind one NAT can still sign in, yet enough to stop
// one machine from trying passwords across many usernames. The JSON API and the form share each budget.

/** Login attempts, successful or not. */
export const LOGINS_PER_ADDRESS: RateLimitOptions = { groupId: 'login', max: 100, timeWindow: 15 * 60_000 }
/** Sign-ups: each costs an argon2 hash and a row. */
export const SIGN_UPS_PER_ADDRESS: RateLimitOptions = { groupId: 'register', max: 20, timeWindow: 60 * 60_000 }
