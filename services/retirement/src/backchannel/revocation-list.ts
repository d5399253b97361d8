import { CLOCK_TOLERANCE_SECONDS, type Database, type LogoutNotice, type SignedInUser } from '@sso/shared'

/** What recording a verified notice led to: a `jti` already seen is a replay, and changes nothing. */
export type RecordOutcome = 'recorded' | 'replayed'

/**
 * The sessions the bank said have ended, in SQLite (so a restart forgets nothing) and in memory (so checking a token
 * costs two Map lookups and no I/O). Entries live only while a token they concern could still be presented.
 */
export function createRevocationList(db: Database, { maxAccessTokenTtlSeconds }: { maxAccessTokenTtlSeconds: number }) {
  const rememberToken = db.prepare<[string, number]>(
    'INSERT INTO seen_logout_tokens (jti, keep_until) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING',
  )
  const revokeSession = db.prepare<[string, number]>(`
    INSERT INTO revoked_sessions (session_id, keep_until) VALUES (?, ?)
    ON CONFLICT (session_id) DO UPDATE SET keep_until = max(keep_until, excluded.keep_until)`)
  const revokeUser = db.prepare<[string, number, number]>(`
    INSERT INTO revoked_users (user_id, issued_up_to, keep_until) VALUES (?, ?, ?)
    ON CONFLICT (user_id) DO UPDATE SET
      issued_up_to = max(issued_up_to, excluded.issued_up_to), keep_until = max(keep_until, excluded.keep_until)`)
  const selectSessions = db.prepare<[number], { sessionId: string; keepUntil: number }>(
    'SELECT session_id AS sessionId, keep_until AS keepUntil FROM revoked_sessions WHERE keep_until > ?',
  )
  const selectUsers = db.prepare<[number], { userId: string; issuedUpTo: number; keepUntil: number }>(`
    SELECT user_id AS userId, issued_up_to AS issuedUpTo, keep_until AS keepUntil
    FROM revoked_users WHERE keep_until > ?`)
  const pruneStatements = ['revoked_sessions', 'revoked_users', 'seen_logout_tokens'].map((table) =>
    db.prepare<[number]>(`DELETE FROM ${table} WHERE keep_until <= ?`),
  )

  const revokedSessions = new Map<string, number>()
  const revokedUsers = new Map<string, { issuedUpTo: number; keepUntil: number }>()
  const nowSeconds = () => Math.floor(Date.now() / 1000)
  // The last token of an ended session was issued by the time of the notice and lives at most this long.
  const keepUntilFor = (notice: LogoutNotice) => notice.issuedAt + maxAccessTokenTtlSeconds + CLOCK_TOLERANCE_SECONDS

  function remember(sessionId: string | undefined, userId: string | undefined, issuedUpTo: number, keepUntil: number) {
    if (sessionId !== undefined) {
      revokedSessions.set(sessionId, Math.max(keepUntil, revokedSessions.get(sessionId) ?? 0))
      return
    }
    if (userId === undefined) return
    const previous = revokedUsers.get(userId)
    revokedUsers.set(userId, {
      issuedUpTo: Math.max(issuedUpTo, previous?.issuedUpTo ?? 0),
      keepUntil: Math.max(keepUntil, previous?.keepUntil ?? 0),
    })
  }

  const recordInDatabase = db.transaction((notice: LogoutNotice, keepUntil: number): RecordOutcome => {
    if (rememberToken.run(notice.tokenId, notice.expiresAt + CLOCK_TOLERANCE_SECONDS).changes === 0) return 'replayed'
    // With a `sid`, only that session ended (a `sub` beside it just names its user); `sub` alone means all of them.
    if (notice.sessionId !== undefined) revokeSession.run(notice.sessionId, keepUntil)
    else if (notice.userId !== undefined) revokeUser.run(notice.userId, notice.issuedAt, keepUntil)
    return 'recorded'
  })

  return {
    /** Reads what is still relevant from the database; call once at start. */
    load() {
      const now = nowSeconds()
      for (const row of selectSessions.all(now)) remember(row.sessionId, undefined, 0, row.keepUntil)
      for (const row of selectUsers.all(now)) remember(undefined, row.userId, row.issuedUpTo, row.keepUntil)
    },

    /** Records a verified notice, unless its `jti` was seen before; committed before memory changes. */
    record(notice: LogoutNotice): RecordOutcome {
      const keepUntil = keepUntilFor(notice)
      const outcome = recordInDatabase(notice, keepUntil)
      if (outcome === 'recorded') remember(notice.sessionId, notice.userId, notice.issuedAt, keepUntil)
      return outcome
    },

    /** The auth plugin's per-request check: memory only. */
    isRevoked(user: SignedInUser): boolean {
      if (revokedSessions.has(user.sessionId)) return true
      const revokedUser = revokedUsers.get(user.id)
      return revokedUser !== undefined && user.issuedAt <= revokedUser.issuedUpTo
    },

    /** Forgets entries no token can need any more, in the database and in memory. */
    prune() {
      const now = nowSeconds()
      for (const statement of pruneStatements) statement.run(now)
      for (const [sessionId, keepUntil] of revokedSessions) if (keepUntil <= now) revokedSessions.delete(sessionId)
      for (const [userId, { keepUntil }] of revokedUsers) if (keepUntil <= now) revokedUsers.delete(userId)
    },

    /** How many revocations are held in memory, for tests and logs. */
    size: () => revokedSessions.size + revokedUsers.size,
  }
}
export type RevocationList = ReturnType<typeof createRevocationList>
