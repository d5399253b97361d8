import { databaseNowMs, type OpenedDatabase } from '@sso/shared/db'
import { sql } from 'kysely'
import type { BankDatabase } from '../db/bank-database.js'

export interface LoginThrottleLimits {
  /** Consecutive failed logins allowed for one username before it is locked. */
  maxFailures: number
  /** How long a username stays locked after its last counted attempt. */
  windowMs: number
}

export type AttemptDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number }

/**
 * Counts login attempts per username (known or not, so the answer never tells which exist). An attempt is counted
 * *before* the password is checked, in one statement, so parallel attempts cannot slip past the limit while their
 * argon2 work runs, on one process or on many replicas; a successful login then clears the count, which makes the
 * limit one on consecutive failures. Timed by the database's clock, the one clock all replicas share.
 */
export function createLoginThrottle({ db, engine }: OpenedDatabase<BankDatabase>, limits: LoginThrottleLimits) {
  const { maxFailures, windowMs } = limits
  const now = databaseNowMs(engine)
  const windowStart = sql<number>`${now} - ${windowMs}`

  return {
    /** Counts an attempt for `username`, or refuses it while the username is locked. */
    async countAttempt(username: string): Promise<AttemptDecision> {
      // A row older than the window starts over at 1; a locked row (maxFailures reached, still inside the window) is
      // left untouched and returns nothing. Refused attempts are not counted, so the lock ends `windowMs` after the
      // last failure however hard someone keeps trying.
      const counted = await db
        .insertInto('loginThrottle')
        .values({ username, attempts: 1, lastAttemptAt: now })
        .onConflict((conflict) =>
          conflict
            .column('username')
            .doUpdateSet((eb) => ({
              attempts: eb
                .case()
                .when('loginThrottle.lastAttemptAt', '<=', windowStart)
                .then(eb.lit(1))
                .else(eb('loginThrottle.attempts', '+', 1))
                .end(),
              lastAttemptAt: now,
            }))
            .where((eb) =>
              eb.or([
                eb('loginThrottle.attempts', '<', maxFailures),
                eb('loginThrottle.lastAttemptAt', '<=', windowStart),
              ]),
            ),
        )
        .returning('attempts')
        .executeTakeFirst()
      if (counted !== undefined) return { allowed: true }
      const locked = await db
        .selectFrom('loginThrottle')
        .select(['lastAttemptAt', now.as('nowMs')])
        .where('username', '=', username)
        .executeTakeFirst()
      const retryAfterMs = locked ? locked.lastAttemptAt + windowMs - locked.nowMs : windowMs
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) }
    },
    /** The attempt never reached the password check (the server was busy): it is not a failure of the user's. */
    async uncountAttempt(username: string): Promise<void> {
      await db
        .updateTable('loginThrottle')
        .set((eb) => ({ attempts: eb('attempts', '-', 1) }))
        .where('username', '=', username)
        .where('attempts', '>', 0)
        .execute()
    },
    /**
     * Forgets the counts of names nobody has tried within the window (they would otherwise pile up); run hourly, not
     * on every attempt: one write less per login. Returns how many went.
     */
    async deleteExpired(): Promise<number> {
      const { numDeletedRows } = await db
        .deleteFrom('loginThrottle')
        .where('lastAttemptAt', '<=', windowStart)
        .executeTakeFirst()
      return Number(numDeletedRows)
    },
    /** The password was right: the failures before it no longer count. */
    async clearFailures(username: string): Promise<void> {
      await db.deleteFrom('loginThrottle').where('username', '=', username).execute()
    },
  }
}
export type LoginThrottle = ReturnType<typeof createLoginThrottle>
