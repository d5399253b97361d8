import { CLOCK_TOLERANCE_SECONDS, type LogoutNotice, type SignedInUser } from '@sso/shared'
import type { Kysely } from 'kysely'
import type { RetirementDatabase } from '../db/retirement-database.js'

/** What recording a verified notice led to: a `jti` already seen is a replay, and changes nothing. */
export type RecordOutcome = 'recorded' | 'replayed'

/**
 * The sessions the bank said have ended, in the database (so a restart forgets nothing) and in memory (so checking a
 * token costs two Map lookups and no I/O). Entries live only while a token they concern could still be presented.
 */
export function createRevocationList(
  db: Kysely<RetirementDatabase>,
  { maxAccessTokenTtlSeconds }: { maxAccessTokenTtlSeconds: number },
) {
  const revokedSessions = new Map<string, number>()
  const revokedUsers = new Map<string, { issuedUpTo: number; keepUntil: number }>()
  const nowSeconds = () => Math.floor(Date.now() / 1000)
  // The last token of an ended session was issued by the time of the notice and lives at most this long.
  const keepUntilFor = (notice: LogoutNotice) =>
    notice.issuedAtSeconds + maxAccessTokenTtlSeconds + CLOCK_TOLERANCE_SECONDS

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

  // The jti and the revocation commit together: a replay is refused by the INSERT itself (ON CONFLICT DO NOTHING
  // returns no row), whichever replica received the first copy. Upserts only ever move a bound later.
  function recordInDatabase(notice: LogoutNotice, keepUntil: number): Promise<RecordOutcome> {
    return db.transaction().execute(async (trx) => {
      const remembered = await trx
        .insertInto('seenLogoutTokens')
        .values({ jti: notice.tokenId, keepUntil: notice.expiresAtSeconds + CLOCK_TOLERANCE_SECONDS })
        .onConflict((conflict) => conflict.column('jti').doNothing())
        .returning('jti')
        .executeTakeFirst()
      if (!remembered) return 'replayed'
      // With a `sid`, only that session ended (a `sub` beside it just names its user); `sub` alone means all of them.
      if (notice.sessionId !== undefined) {
        await trx
          .insertInto('revokedSessions')
          .values({ sessionId: notice.sessionId, keepUntil })
          .onConflict((conflict) =>
            conflict
              .column('sessionId')
              .doUpdateSet({ keepUntil: (eb) => eb.ref('excluded.keepUntil') })
              .whereRef('excluded.keepUntil', '>', 'revokedSessions.keepUntil'),
          )
          .execute()
      } else if (notice.userId !== undefined) {
        await trx
          .insertInto('revokedUsers')
          .values({ userId: notice.userId, issuedUpTo: notice.issuedAtSeconds, keepUntil })
          .onConflict((conflict) =>
            conflict.column('userId').doUpdateSet((eb) => ({
              // Spelled as CASE: SQLite's two-argument max() is PostgreSQL's greatest().
              issuedUpTo: eb
                .case()
                .when('excluded.issuedUpTo', '>', eb.ref('revokedUsers.issuedUpTo'))
                .then(eb.ref('excluded.issuedUpTo'))
                .else(eb.ref('revokedUsers.issuedUpTo'))
                .end(),
              keepUntil: eb
                .case()
                .when('excluded.keepUntil', '>', eb.ref('revokedUsers.keepUntil'))
                .then(eb.ref('excluded.keepUntil'))
                .else(eb.ref('revokedUsers.keepUntil'))
                .end(),
            })),
          )
          .execute()
      }
      return 'recorded'
    })
  }

  return {
    /** Reads what is still relevant from the database; call once at start. */
    async load() {
      const now = nowSeconds()
      const sessions = await db
        .selectFrom('revokedSessions')
        .select(['sessionId', 'keepUntil'])
        .where('keepUntil', '>', now)
        .execute()
      const users = await db
        .selectFrom('revokedUsers')
        .select(['userId', 'issuedUpTo', 'keepUntil'])
        .where('keepUntil', '>', now)
        .execute()
      for (const row of sessions) remember(row.sessionId, undefined, 0, row.keepUntil)
      for (const row of users) remember(undefined, row.userId, row.issuedUpTo, row.keepUntil)
    },

    /** Records a verified notice, unless its `jti` was seen before; committed before memory changes. */
    async record(notice: LogoutNotice): Promise<RecordOutcome> {
      const keepUntil = keepUntilFor(notice)
      const outcome = await recordInDatabase(notice, keepUntil)
      if (outcome === 'recorded') remember(notice.sessionId, notice.userId, notice.issuedAtSeconds, keepUntil)
      return outcome
    },

    /** The auth plugin's per-request check: memory only, never a query. */
    isRevoked(user: SignedInUser): boolean {
      if (revokedSessions.has(user.sessionId)) return true
      const revokedUser = revokedUsers.get(user.id)
      return revokedUser !== undefined && user.issuedAtSeconds <= revokedUser.issuedUpTo
    },

    /** Forgets entries no token can need any more, in the database and in memory. */
    async prune() {
      const now = nowSeconds()
      for (const [sessionId, keepUntil] of revokedSessions) if (keepUntil <= now) revokedSessions.delete(sessionId)
      for (const [userId, { keepUntil }] of revokedUsers) if (keepUntil <= now) revokedUsers.delete(userId)
      await db.deleteFrom('revokedSessions').where('keepUntil', '<=', now).execute()
      await db.deleteFrom('revokedUsers').where('keepUntil', '<=', now).execute()
      await db.deleteFrom('seenLogoutTokens').where('keepUntil', '<=', now).execute()
    },

    /** How many revocations are held in memory, for tests and logs. */
    size: () => revokedSessions.size + revokedUsers.size,
  }
}
export type RevocationList = ReturnType<typeof createRevocationList>
