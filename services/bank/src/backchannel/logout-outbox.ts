import { CLOCK_TOLERANCE_SECONDS, type Database } from '@sso/shared'

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
  db: Database,
  { urls, accessTokenTtlSeconds }: { urls: readonly string[]; accessTokenTtlSeconds: number },
) {
  const insert = db.prepare<[string, string | null, string, number, number, number]>(`
    INSERT INTO logout_outbox (url, session_id, user_id, created_at, next_attempt_at, give_up_at)
    VALUES (?, ?, ?, ?, ?, ?)`)
  const selectDue = db.prepare<[number, number], PendingNotice>(`
    SELECT id, url, session_id AS sessionId, user_id AS userId, attempts, give_up_at AS giveUpAt
    FROM logout_outbox WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`)
  const deleteById = db.prepare<[number]>('DELETE FROM logout_outbox WHERE id = ?')
  const reschedule = db.prepare<[number, number, number]>(
    'UPDATE logout_outbox SET attempts = ?, next_attempt_at = ? WHERE id = ?',
  )
  const countPending = db.prepare<[], { count: number }>('SELECT count(*) AS count FROM logout_outbox')
  // A revoked session's last access token was issued no later than the revocation, and lives at most this long.
  const usefulForMs = (accessTokenTtlSeconds + CLOCK_TOLERANCE_SECONDS) * 1000
  const listeners = new Set<() => void>()

  return {
    /**
     * Queues one notice per back-channel URL for each ended session. Call it inside the revocation's transaction;
     * listeners hear of it once the transaction has committed (on the next turn of the event loop).
     */
    enqueue(ended: readonly EndedSession[], revokedAt: number) {
      for (const session of ended) {
        for (const url of urls) {
          insert.run(url, session.id, session.userId, revokedAt, revokedAt, revokedAt + usefulForMs)
        }
      }
      if (ended.length === 0 || urls.length === 0) return
      setImmediate(() => {
        for (const listener of listeners) listener()
      })
    },
    /** Notices whose next attempt is due, oldest first. */
    findDue: (now: number, limit: number) => selectDue.all(now, limit),
    /** Delivered (2xx) or given up: the notice is gone. */
    remove: (id: number) => deleteById.run(id).changes > 0,
    /** A failed attempt: counted, and tried again at `nextAttemptAt`. */
    scheduleRetry: (id: number, attempts: number, nextAttemptAt: number) => {
      reschedule.run(attempts, nextAttemptAt, id)
    },
    /** How many notices wait, for tests and logs. */
    countPending: () => countPending.get()?.count ?? 0,
    /** Calls `listener` after each committed enqueue, so delivery need not wait for its next tick. */
    onEnqueued(listener: () => void) {
      listeners.add(listener)
    },
  }
}
export type LogoutOutbox = ReturnType<typeof createLogoutOutbox>
