import { CLOCK_TOLERANCE_SECONDS } from '@sso/shared'
import type { Kysely } from 'kysely'
import type { BankDatabase } from '../db/bank-database.js'

/** A login session that has just been revoked: the subject of a logout notice. */
export interface EndedSession {
  /** The access tokens' `sid`. */
  id: string
  userId: string
}

/** One notice still to be delivered to one back-channel URL. */
export interface PendingNotice {
  id: number
  url: string
  /** Null: every session of the user (a logout token with `sub` alone). */
  sessionId: string | null
  userId: string
  attempts: number
  /** Milliseconds since the epoch; past it, every access token the notice is about has expired anyway. */
  giveUpAt: number
}

/**
 * The single-logout outbox: notices are written in the revocation's own transaction (so neither can exist without
 * the other), and a delivery worker reads, retries and deletes them.
 */
export function createLogoutOutbox(
  db: Kysely<BankDatabase>,
  { urls, accessTokenTtlSeconds }: { urls: readonly string[]; accessTokenTtlSeconds: number },
) {
  // A revoked session's last access token was issued no later than the revocation, and lives at most this long.
  const usefulForMs = (accessTokenTtlSeconds + CLOCK_TOLERANCE_SECONDS) * 1000
  const listeners = new Set<() => void>()

  return {
    /**
     * Queues one notice per back-channel URL for each ended session, in the revocation's own transaction (`trx`), so
     * neither commits without the other. Call {@link announce} once that transaction has committed.
     */
    async enqueue(trx: Kysely<BankDatabase>, ended: readonly EndedSession[], revokedAt: number): Promise<void> {
      const notices = ended.flatMap((session) =>
        urls.map((url) => ({
          url,
          sessionId: session.id,
          userId: session.userId,
          createdAt: revokedAt,
          nextAttemptAt: revokedAt,
          giveUpAt: revokedAt + usefulForMs,
        })),
      )
      if (notices.length > 0) await trx.insertInto('logoutOutbox').values(notices).execute()
    },
    /** Tells the listeners that notices were committed, so delivery need not wait for its next tick. */
    announce() {
      for (const listener of listeners) listener()
    },
    /** Notices whose next attempt is due, oldest first. */
    findDue: (now: number, limit: number): Promise<PendingNotice[]> =>
      db
        .selectFrom('logoutOutbox')
        .select(['id', 'url', 'sessionId', 'userId', 'attempts', 'giveUpAt'])
        .where('nextAttemptAt', '<=', now)
        .orderBy('nextAttemptAt')
        .orderBy('id')
        .limit(limit)
        .execute(),
    /** Delivered (2xx) or given up: the notice is gone. */
    async remove(id: number): Promise<boolean> {
      const { numDeletedRows } = await db.deleteFrom('logoutOutbox').where('id', '=', id).executeTakeFirst()
      return numDeletedRows > 0n
    },
    /** A failed attempt: counted, and tried again at `nextAttemptAt`. */
    async scheduleRetry(id: number, attempts: number, nextAttemptAt: number): Promise<void> {
      await db.updateTable('logoutOutbox').set({ attempts, nextAttemptAt }).where('id', '=', id).execute()
    },
    /** How many notices wait, for tests and logs. */
    async countPending(): Promise<number> {
      const { count } = await db
        .selectFrom('logoutOutbox')
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .executeTakeFirstOrThrow()
      return count
    },
    /** Calls `listener` after each committed enqueue that was announced. */
    onEnqueued(listener: () => void) {
      listeners.add(listener)
    },
  }
}
export type LogoutOutbox = ReturnType<typeof createLogoutOutbox>
