import { CLOCK_TOLERANCE_SECONDS, type LogoutNotice, type SignedInUser } from '@sso/shared'
import type { Engine } from '@sso/shared/db'
import { type Kysely, sql } from 'kysely'
import { type Static, Type } from 'typebox'
import { Value } from 'typebox/value'
import type { RetirementDatabase } from '../db/retirement-database.js'

/** What recording a verified notice led to: a `jti` already seen is a replay, and changes nothing. */
export type RecordOutcome = 'recorded' | 'replayed'

/** The PostgreSQL channel on which a replica announces each revocation it commits (`pg_notify`, delivered on commit). */
export const REVOCATIONS_CHANNEL = 'sso_revocations'

/**
 * How long a replica may go without bringing its list up to date (a successful poll) before `/readyz` takes it out:
 * CONTRACT, "refuse that session's tokens within 5 s".
 */
export const MAX_REVOCATIONS_STALENESS_MS = 5_000

/** One revocation as a NOTIFY carries it: what the receiving replica needs to apply it without a query. */
const RevocationChange = Type.Union([
  Type.Object(
    { sessionId: Type.String({ minLength: 1, maxLength: 255 }), keepUntil: Type.Integer() },
    { additionalProperties: false },
  ),
  Type.Object(
    { userId: Type.String({ minLength: 1, maxLength: 255 }), issuedUpTo: Type.Integer(), keepUntil: Type.Integer() },
    { additionalProperties: false },
  ),
])
type RevocationChange = Static<typeof RevocationChange>

export interface RevocationListOptions {
  maxAccessTokenTtlSeconds: number
  /** PostgreSQL: replicas share the list, each keeps a copy brought up to date by NOTIFY and by polls. */
  engine: Engine
  /** Tests shorten it; see {@link MAX_REVOCATIONS_STALENESS_MS}. */
  maxStalenessMs?: number
}

/**
 * The sessions the bank said have ended, in the database (so a restart forgets nothing, and every replica sees them)
 * and in memory (so checking a token costs two Map lookups and no I/O). Entries live only while a token they concern
 * could still be presented.
 *
 * On PostgreSQL, a replica learns of the revocations other replicas commit in two ways (revocation-feed.ts): the
 * NOTIFY each commit sends (`applyAnnounced`, within milliseconds), and a poll every second (`refresh`), because
 * NOTIFY has no replay: what is sent while the listening connection is down is lost.
 *
 * The poll is exact, not a guess with an overlap window. Each row records the transaction that last changed it
 * (`changed_xid`), and each poll reads, in one snapshot, the rows changed by transactions at or after the oldest one
 * still running at its previous snapshot (`pg_snapshot_xmin`). A transaction that had not committed when the previous
 * poll looked was running then (its xid is at least that xmin) or had not begun (its xid is greater still), so the
 * next poll reads its rows however late it commits; "id > the last id seen" would skip a row whose lower id committed
 * after a higher one (replicas.test.ts: "commits out of order"). The price: rows of transactions already seen may be
 * read again (applying is idempotent, bounds only move later), as many as commit while the oldest open transaction of
 * the server lasts (our own last at most seconds: statement and idle-in-transaction timeouts of 10 s).
 */
export function createRevocationList(
  db: Kysely<RetirementDatabase>,
  { maxAccessTokenTtlSeconds, engine, maxStalenessMs = MAX_REVOCATIONS_STALENESS_MS }: RevocationListOptions,
) {
  const isPostgres = engine === 'postgres'
  const revokedSessions = new Map<string, number>()
  const revokedUsers = new Map<string, { issuedUpTo: number; keepUntil: number }>()
  const nowSeconds = () => Math.floor(Date.now() / 1000)
  // The last token of an ended session was issued by the time of the notice and lives at most this long.
  const keepUntilFor = (notice: LogoutNotice) =>
    notice.issuedAtSeconds + maxAccessTokenTtlSeconds + CLOCK_TOLERANCE_SECONDS

  function apply(change: RevocationChange) {
    if ('sessionId' in change) {
      revokedSessions.set(change.sessionId, Math.max(change.keepUntil, revokedSessions.get(change.sessionId) ?? 0))
      return
    }
    const previous = revokedUsers.get(change.userId)
    revokedUsers.set(change.userId, {
      issuedUpTo: Math.max(change.issuedUpTo, previous?.issuedUpTo ?? 0),
      keepUntil: Math.max(change.keepUntil, previous?.keepUntil ?? 0),
    })
  }

  /** A notice's revocation: its session (with a `sid`, a `sub` beside it just names the user), or all of its user's. */
  function changeFor(notice: LogoutNotice): RevocationChange {
    const keepUntil = keepUntilFor(notice)
    if (notice.sessionId !== undefined) return { sessionId: notice.sessionId, keepUntil }
    if (notice.userId !== undefined) return { userId: notice.userId, issuedUpTo: notice.issuedAtSeconds, keepUntil }
    throw new Error('a logout notice names neither a session nor a user') // verifyLogoutToken refuses those
  }

  // PostgreSQL: the transaction running the statement, recorded in each row it changes (see the poll above).
  const changedXidNow = () => (isPostgres ? { changedXid: sql<string>`pg_current_xact_id()` } : {})

  // The jti and the revocation commit together: a replay is refused by the INSERT itself (ON CONFLICT DO NOTHING
  // returns no row), whichever replica received the first copy. Upserts only ever move a bound later. On PostgreSQL
  // the NOTIFY is sent in the same transaction: PostgreSQL delivers it on commit, and never for a rollback.
  function recordInDatabase(notice: LogoutNotice, change: RevocationChange): Promise<RecordOutcome> {
    return db.transaction().execute(async (trx) => {
      const remembered = await trx
        .insertInto('seenLogoutTokens')
        .values({ jti: notice.tokenId, keepUntil: notice.expiresAtSeconds + CLOCK_TOLERANCE_SECONDS })
        .onConflict((conflict) => conflict.column('jti').doNothing())
        .returning('jti')
        .executeTakeFirst()
      if (!remembered) return 'replayed'
      if ('sessionId' in change) {
        await trx
          .insertInto('revokedSessions')
          .values({ sessionId: change.sessionId, keepUntil: change.keepUntil })
          .onConflict((conflict) =>
            conflict
              .column('sessionId')
              .doUpdateSet({ keepUntil: (eb) => eb.ref('excluded.keepUntil'), ...changedXidNow() })
              .whereRef('excluded.keepUntil', '>', 'revokedSessions.keepUntil'),
          )
          .execute()
      } else {
        await trx
          .insertInto('revokedUsers')
          .values({ userId: change.userId, issuedUpTo: change.issuedUpTo, keepUntil: change.keepUntil })
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
              ...changedXidNow(),
            })),
          )
          .execute()
      }
      if (isPostgres) await sql`select pg_notify(${REVOCATIONS_CHANNEL}, ${JSON.stringify(change)})`.execute(trx)
      return 'recorded'
    })
  }

  // Where the next poll starts (PostgreSQL): the oldest transaction still running at the previous poll's snapshot.
  let changedSinceXid: string | undefined
  let loaded = false
  let refreshedAtMs = 0
  let refreshing: Promise<void> | undefined

  /** Reads what changed since the last read (the first time: everything still relevant) and applies it. */
  async function readChanges() {
    const now = nowSeconds()
    const since = changedSinceXid
    const read = async (trx: Kysely<RetirementDatabase>) => {
      const sessions = await trx
        .selectFrom('revokedSessions')
        .select(['sessionId', 'keepUntil'])
        .where('keepUntil', '>', now)
        .$if(since !== undefined, (query) => query.where(sql<boolean>`changed_xid >= ${since}::xid8`))
        .execute()
      const users = await trx
        .selectFrom('revokedUsers')
        .select(['userId', 'issuedUpTo', 'keepUntil'])
        .where('keepUntil', '>', now)
        .$if(since !== undefined, (query) => query.where(sql<boolean>`changed_xid >= ${since}::xid8`))
        .execute()
      return { sessions, users }
    }
    let nextSinceXid: string | undefined
    const { sessions, users } = !isPostgres
      ? await read(db)
      : // One snapshot for the xmin and both reads: REPEATABLE READ takes it at the first statement and keeps it.
        await db
          .transaction()
          .setIsolationLevel('repeatable read')
          .execute(async (trx) => {
            const snapshot = await sql<{ xmin: string }>`
              select pg_snapshot_xmin(pg_current_snapshot())::text as xmin`.execute(trx)
            nextSinceXid = snapshot.rows[0]?.xmin
            return read(trx)
          })
    for (const row of sessions) apply(row)
    for (const row of users) apply(row)
    changedSinceXid = nextSinceXid
    loaded = true
    refreshedAtMs = Date.now()
  }

  function refresh(): Promise<void> {
    refreshing ??= readChanges().finally(() => {
      refreshing = undefined
    })
    return refreshing
  }

  return {
    /** Reads what is still relevant from the database; call once at start, before serving. */
    load: refresh,

    /**
     * Brings the list up to date from the database (PostgreSQL: what other replicas committed since the last call).
     * Calls made while one runs share it.
     */
    refresh,

    /**
     * Applies a revocation another replica announced (the payload of a NOTIFY on {@link REVOCATIONS_CHANNEL});
     * false, and nothing applied, when the payload is not one.
     */
    applyAnnounced(payload: string): boolean {
      let change: unknown
      try {
        change = JSON.parse(payload)
      } catch {
        return false
      }
      if (!Value.Check(RevocationChange, change)) return false
      apply(change)
      return true
    },

    /**
     * Why this replica's list may not be trusted now, or undefined when it may: not loaded yet, or (PostgreSQL) not
     * brought up to date by a successful poll for longer than the staleness bound. For `/readyz`.
     */
    notCurrentReason(nowMs = Date.now()): string | undefined {
      if (!loaded) return 'the revocation list is not loaded yet'
      // SQLite: one process, whose memory changes with each commit, is current by construction.
      if (!isPostgres) return undefined
      const ageMs = nowMs - refreshedAtMs
      if (ageMs <= maxStalenessMs) return undefined
      return `the revocation list was last brought up to date ${(ageMs / 1000).toFixed(1)} s ago`
    },

    /** Records a verified notice, unless its `jti` was seen before; committed (and announced) before memory changes. */
    async record(notice: LogoutNotice): Promise<RecordOutcome> {
      const change = changeFor(notice)
      const outcome = await recordInDatabase(notice, change)
      if (outcome === 'recorded') apply(change)
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
