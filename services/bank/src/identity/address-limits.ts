import type { FastifyRateLimitStore, RateLimitOptions } from '@fastify/rate-limit'
import { databaseNowMs, type OpenedDatabase } from '@sso/shared/db'
import { sql } from 'kysely'
import type { BankDatabase } from '../db/bank-database.js'

// Per client address, as Fastify's `request.ip` sees it: X-Forwarded-For is believed only from TRUST_PROXY.
// Wider than the per-username limit (10 failures), so people behind one NAT can still sign in, yet enough to stop
// one machine from trying passwords across many usernames. The JSON API and the form share each budget.

/** Login attempts, successful or not. */
export const LOGINS_PER_ADDRESS: RateLimitOptions = { groupId: 'login', max: 100, timeWindow: 15 * 60_000 }
/** Sign-ups: each costs an argon2 hash and a row. */
export const SIGN_UPS_PER_ADDRESS: RateLimitOptions = { groupId: 'register', max: 20, timeWindow: 60 * 60_000 }

/** The longest window of any limit the store counts (sign-ups: an hour); rows older than this serve nobody. */
export const LONGEST_RATE_LIMIT_WINDOW_MS = 60 * 60_000

/**
 * The counters of every limited route, in the database, so that every replica spends the same budget (docs/spec.md:
 * the limits count the attempts made on all replicas together, timed by the database's clock). @fastify/rate-limit
 * gives each route a store of its own (`child`), so a shared `groupId` alone left the JSON login and the login form
 * each with a full budget; here `child` returns this same store, and the plugin's keys (address + groupId, or the
 * refresh limits' own keys) keep the groups apart.
 *
 * One statement per counted request: `INSERT … ON CONFLICT DO UPDATE … RETURNING` starts a new window when the old
 * one has passed and otherwise adds one, so parallel requests on any replicas each see their own count.
 */
export function createDatabaseRateLimitStore({ db, engine }: OpenedDatabase<BankDatabase>) {
  const now = databaseNowMs(engine)

  class DatabaseRateLimitStore implements FastifyRateLimitStore {
    incr(
      key: string,
      callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
      timeWindowMs: number,
    ): void {
      const windowPassed = sql<boolean>`rate_limit_windows.window_started_at <= ${now} - ${timeWindowMs}`
      db.insertInto('rateLimitWindows')
        .values({ key, hits: 1, windowStartedAt: now })
        .onConflict((conflict) =>
          conflict.column('key').doUpdateSet((eb) => ({
            hits: eb
              .case()
              .when(windowPassed)
              .then(eb.lit(1))
              .else(eb('rateLimitWindows.hits', '+', 1))
              .end(),
            windowStartedAt: eb
              .case()
              .when(windowPassed)
              .then(now)
              .else(eb.ref('rateLimitWindows.windowStartedAt'))
              .end(),
          })),
        )
        .returning(['hits', 'windowStartedAt', now.as('nowMs')])
        .executeTakeFirstOrThrow()
        .then(
          ({ hits, windowStartedAt, nowMs }) =>
            callback(null, { current: hits, ttl: Math.max(0, windowStartedAt + timeWindowMs - nowMs) }),
          (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
        )
    }

    /** The count without spending (`{ increment: false }`): a budget checked now and charged later. */
    read(
      key: string,
      callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
      timeWindowMs: number,
    ): void {
      db.selectFrom('rateLimitWindows')
        .select(['hits', 'windowStartedAt', now.as('nowMs')])
        .where('key', '=', key)
        .executeTakeFirst()
        .then((row) => {
          const isCurrent = row !== undefined && row.windowStartedAt > row.nowMs - timeWindowMs
          callback(null, {
            current: isCurrent ? row.hits : 0,
            ttl: isCurrent ? Math.max(0, row.windowStartedAt + timeWindowMs - row.nowMs) : timeWindowMs,
          })
        })
        .catch((error: unknown) => callback(error instanceof Error ? error : new Error(String(error))))
    }

    child(): FastifyRateLimitStore {
      return this
    }
  }

  return {
    /** The class to give @fastify/rate-limit as `store`. */
    Store: DatabaseRateLimitStore,
    /** Forgets windows no limit can still be counting; returns how many. */
    async deletePassed(): Promise<number> {
      const { numDeletedRows } = await db
        .deleteFrom('rateLimitWindows')
        .where('windowStartedAt', '<=', sql<number>`${now} - ${LONGEST_RATE_LIMIT_WINDOW_MS}`)
        .executeTakeFirst()
      return Number(numDeletedRows)
    },
  }
}
