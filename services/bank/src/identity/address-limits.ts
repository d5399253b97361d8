import type { FastifyRateLimitStore, RateLimitOptions } from '@fastify/rate-limit'

// Per client address, as Fastify's `request.ip` sees it: X-Forwarded-For is believed only from TRUST_PROXY.
// Wider than the per-username limit (10 failures), so people behind one NAT can still sign in, yet enough to stop
// one machine from trying passwords across many usernames. The JSON API and the form share each budget.

/** Login attempts, successful or not. */
export const LOGINS_PER_ADDRESS: RateLimitOptions = { groupId: 'login', max: 100, timeWindow: 15 * 60_000 }
/** Sign-ups: each costs an argon2 hash and a row. */
export const SIGN_UPS_PER_ADDRESS: RateLimitOptions = { groupId: 'register', max: 20, timeWindow: 60 * 60_000 }

// Enough addresses for a busy bank; past it the oldest window is forgotten, as @fastify/rate-limit's own store does.
const MAX_TRACKED_KEYS = 10_000

interface AddressWindow {
  count: number
  startedAt: number
}

/**
 * The counters of every limited route in one map. @fastify/rate-limit gives each route a store of its own
 * (`child`), so a shared `groupId` alone left the JSON login and the login form each with a full budget; here
 * `child` returns this same store, and the plugin's keys (address + groupId) keep the groups apart.
 */
export class SharedAddressStore implements FastifyRateLimitStore {
  private readonly windows = new Map<string, AddressWindow>()

  incr(
    key: string,
    callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
    timeWindowMs: number,
  ): void {
    const now = Date.now()
    let window = this.windows.get(key)
    if (!window || window.startedAt + timeWindowMs <= now) {
      this.windows.delete(key)
      if (this.windows.size >= MAX_TRACKED_KEYS) {
        const oldest = this.windows.keys().next().value
        if (oldest !== undefined) this.windows.delete(oldest)
      }
      window = { count: 0, startedAt: now }
      this.windows.set(key, window)
    }
    window.count += 1
    callback(null, { current: window.count, ttl: window.startedAt + timeWindowMs - now })
  }

  child(): FastifyRateLimitStore {
    return this
  }
}
