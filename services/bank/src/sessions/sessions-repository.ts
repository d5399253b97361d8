import { randomUUID } from 'node:crypto'
import { CLOCK_TOLERANCE_SECONDS } from '@sso/shared'
import type { Kysely } from 'kysely'
import type { EndedSession } from '../backchannel/logout-outbox.js'
import type { BankDatabase } from '../db/bank-database.js'
import { hashRefreshToken, type PresentedRefreshToken, type RefreshTokens } from './refresh-token.js'

export interface LoginSession {
  /** The access tokens' `sid`. */
  id: string
  userId: string
  /** Milliseconds since the epoch: login time + REFRESH_TOKEN_TTL, whatever rotations happen in between. */
  expiresAtMs: number
}

/** A live login session as its user sees it in the session list. */
export interface SessionSummary {
  id: string
  createdAtMs: number
  lastUsedAtMs: number
  userAgent: string | null
}

/**
 * Where revocations are announced (single logout): `enqueue` writes the notices inside the revocation's transaction,
 * `announce` runs once it has committed.
 */
export interface RevocationOutbox {
  enqueue(trx: Kysely<BankDatabase>, ended: readonly EndedSession[], revokedAt: number): Promise<void>
  announce(): void
}

/** What presenting a refresh token led to. */
export type Rotation =
  /**
   * The session continues with `refreshToken`. `replayed`: the token was the one rotated most recently, presented
   * again within the grace window (a parallel tab), and `refreshToken` is the same successor the rotation issued.
   */
  | { outcome: 'rotated'; session: LoginSession; refreshToken: string; replayed: boolean }
  /** An older token of the session (issued by the bank: its MAC verifies) came back: theft, so it is now revoked. */
  | { outcome: 'reused'; sessionId: string }
  /** Unknown, invented, expired or revoked. */
  | { outcome: 'invalid' }

export interface SessionsRepositoryOptions {
  refreshTokenTtlSeconds: number
  /** How long the bank's own access tokens live: an ended session's row is kept until the last one has expired. */
  accessTokenTtlSeconds: number
  /** REFRESH_REUSE_GRACE: how long the most recently rotated token may be presented again; 0 turns it off. */
  reuseGraceSeconds: number
  tokens: RefreshTokens
  outbox: RevocationOutbox
}

type Executor = Kysely<BankDatabase>

/** Login sessions and their refresh tokens: one row per session, whatever the number of rotations. */
export function createSessionsRepository(
  db: Kysely<BankDatabase>,
  { refreshTokenTtlSeconds, accessTokenTtlSeconds, reuseGraceSeconds, tokens, outbox }: SessionsRepositoryOptions,
) {
  const reuseGraceMs = reuseGraceSeconds * 1000
  // An access token can be issued until its session ends (revoked or past its lifetime), and is accepted until its
  // `exp` plus the verifier's clock tolerance. Until then the session's row must stay: the bank refuses a token whose
  // session it does not know (deny by default), so deleting the row earlier would not resurrect anything, but would
  // refuse a logged-in user's last access token; keeping it is what makes the refusal of revoked ones hold.
  const endedRowKeptMs = (accessTokenTtlSeconds + CLOCK_TOLERANCE_SECONDS) * 1000

  // Every revocation returns what it ended, so the outbox gets its notices in the same transaction, and forgets the
  // sealed successor: nothing of an ended session can be opened any more.
  const revoke = (executor: Executor, now: number) =>
    executor.updateTable('loginSessions').set({ revokedAt: now, successorBox: null }).where('revokedAt', 'is', null)

  /**
   * Runs a revocation and queues its logout notices in one transaction: on a crash, neither or both. The delivery
   * worker hears of them once they have committed.
   */
  async function revokeAndAnnounce(
    now: number,
    revokeIn: (trx: Executor) => Promise<EndedSession[]>,
    executor?: Executor,
  ): Promise<EndedSession[]> {
    const run = async (trx: Executor) => {
      const ended = await revokeIn(trx)
      await outbox.enqueue(trx, ended, now)
      return ended
    }
    if (executor) return run(executor) // already in a transaction, whose caller announces
    const ended = await db.transaction().execute(run)
    if (ended.length > 0) outbox.announce()
    return ended
  }

  /**
   * The rotation, in one transaction: the compare-and-set (a conditional UPDATE … RETURNING that writes the successor)
   * and, for the losers, the read of what it decided and the grace rule or the revocation. Of any number of requests
   * presenting the same token, on one process or on many replicas sharing the database, exactly one matches the
   * current hash. On PostgreSQL the losers' UPDATE waits for the winner's row lock and then matches nothing, and their
   * read sees the winner's committed row (READ COMMITTED); on SQLite the transaction holds the one connection. No
   * in-process lock is the source of truth anywhere, and nothing in the transaction waits for the network.
   */
  async function decideRotation(
    presented: PresentedRefreshToken,
    current: { id: string; generation: number },
    now: number,
  ): Promise<{ rotation: Rotation; revoked: boolean }> {
    // Sealed before the transaction opens: the crypto holds no lock.
    const successor = tokens.issue(current.id, current.generation + 1)
    const box =
      reuseGraceMs > 0 ? tokens.sealSuccessor(presented.token, successor, current.id, current.generation + 1) : null
    return db.transaction().execute(async (trx) => {
      // Moves the current token to `previous` and leaves the successor sealed for the others (see below).
      const won = await trx
        .updateTable('loginSessions')
        .set((eb) => ({
          refreshTokenHash: hashRefreshToken(successor),
          generation: eb('generation', '+', 1),
          previousTokenHash: presented.hash,
          rotatedAt: now,
          successorBox: box,
          lastUsedAt: now,
        }))
        .where('id', '=', current.id)
        .where('refreshTokenHash', '=', presented.hash)
        .where('generation', '=', current.generation)
        .where('revokedAt', 'is', null)
        .where('expiresAt', '>', now)
        .returning(['id', 'userId', 'expiresAt as expiresAtMs'])
        .executeTakeFirst()
      if (won)
        return {
          rotation: { outcome: 'rotated', session: won, refreshToken: successor, replayed: false },
          revoked: false,
        }

      // Lost: the token is not the session's current one. Read what the rotations decided.
      const row = await trx
        .selectFrom('loginSessions')
        .select(['userId', 'expiresAt', 'revokedAt', 'generation', 'previousTokenHash', 'rotatedAt', 'successorBox'])
        .where('id', '=', current.id)
        .executeTakeFirst()
      if (!row || row.revokedAt !== null || row.expiresAt <= now)
        return { rotation: { outcome: 'invalid' }, revoked: false }
      const session = { id: current.id, userId: row.userId, expiresAtMs: row.expiresAt }
      const revokeForReuse = async () => {
        await revokeAndAnnounce(
          now,
          (inner) => revoke(inner, now).where('id', '=', current.id).returning(['id', 'userId']).execute(),
          trx,
        )
        return { rotation: { outcome: 'reused', sessionId: current.id } as const, revoked: true }
      }
      if (row.previousTokenHash?.equals(presented.hash)) {
        // The token rotated most recently: a parallel tab, a retried request. Within the window it gets the very
        // same successor (so the session never forks); the database only hands it out to whoever holds this token.
        const isWithinGrace = row.rotatedAt !== null && now < row.rotatedAt + reuseGraceMs
        const sealed = isWithinGrace && row.successorBox ? row.successorBox : undefined
        const refreshToken = sealed && tokens.openSuccessor(presented.token, sealed, current.id, row.generation)
        if (refreshToken)
          return { rotation: { outcome: 'rotated', session, refreshToken, replayed: true }, revoked: false }
        return revokeForReuse()
      }
      // Any older generation, as long as the bank really issued it: an invented token must not end anyone's session.
      if (presented.family && presented.family.generation < row.generation && tokens.isGenuine(presented)) {
        return revokeForReuse()
      }
      return { rotation: { outcome: 'invalid' }, revoked: false }
    })
  }

  return {
    /** Starts a login session; the refresh token is returned once and only its hash is kept. */
    async open(
      userId: string,
      userAgent: string | undefined,
    ): Promise<{ session: LoginSession; refreshToken: string }> {
      const now = Date.now()
      const session = { id: randomUUID(), userId, expiresAtMs: now + refreshTokenTtlSeconds * 1000 }
      const refreshToken = tokens.issue(session.id, 0)
      await db
        .insertInto('loginSessions')
        .values({
          id: session.id,
          userId,
          refreshTokenHash: hashRefreshToken(refreshToken),
          createdAt: now,
          lastUsedAt: now,
          expiresAt: session.expiresAtMs,
          userAgent: userAgent ?? null,
        })
        .execute()
      return { session, refreshToken }
    },

    /**
     * Swaps the current refresh token for a new one. The one rotated most recently, again within the grace window,
     * gets the same successor; any older token of the session (or that one after the window) revokes the session.
     */
    async rotate(presentedToken: string): Promise<Rotation> {
      const presented = tokens.parse(presentedToken)
      if (!presented) return { outcome: 'invalid' }
      // Tokens of the earlier format carry no session id: found by their hash while they are a session's current
      // token (the compare-and-set below still decides).
      const current = presented.family
        ? { id: presented.family.sessionId, generation: presented.family.generation }
        : await db
            .selectFrom('loginSessions')
            .select(['id', 'generation'])
            .where('refreshTokenHash', '=', presented.hash)
            .executeTakeFirst()
      if (!current) return { outcome: 'invalid' }
      const { rotation, revoked } = await decideRotation(presented, current, Date.now())
      if (revoked) outbox.announce()
      return rotation
    },

    /** The session a presented token was issued for, if the bank really issued it (its MAC verifies). */
    findIssuedSession(presentedToken: string): string | undefined {
      const presented = tokens.parse(presentedToken)
      return presented && tokens.isGenuine(presented) ? presented.family?.sessionId : undefined
    },

    /** Logout by the refresh cookie (any token of the session); returns the revoked session, if any. */
    async revokeByRefreshToken(presentedToken: string): Promise<EndedSession | undefined> {
      const presented = tokens.parse(presentedToken)
      if (!presented) return undefined
      const now = Date.now()
      const { family, hash } = presented
      const isGenuine = tokens.isGenuine(presented)
      const ended = await revokeAndAnnounce(now, (trx) => {
        if (!family) return revoke(trx, now).where('refreshTokenHash', '=', hash).returning(['id', 'userId']).execute()
        // The session's current or previous token, or any token of it the bank issued.
        let query = revoke(trx, now).where('id', '=', family.sessionId)
        if (!isGenuine)
          query = query.where((eb) => eb.or([eb('refreshTokenHash', '=', hash), eb('previousTokenHash', '=', hash)]))
        return query.returning(['id', 'userId']).execute()
      })
      return ended[0]
    },

    /**
     * The hourly clean-up: forgets sealed successors whose window has passed, and deletes the rows of sessions that
     * ended (revoked or past their lifetime) longer ago than an access token lives. Returns how many rows went.
     */
    async deleteEnded(): Promise<number> {
      const now = Date.now()
      await db
        .updateTable('loginSessions')
        .set({ successorBox: null })
        .where('successorBox', 'is not', null)
        .where('rotatedAt', '<=', now - reuseGraceMs)
        .execute()
      // A session ended at min(revoked_at, expires_at); its last access token is dead endedRowKeptMs later.
      const { numDeletedRows } = await db
        .deleteFrom('loginSessions')
        .where((eb) =>
          eb.or([eb('expiresAt', '<=', now - endedRowKeptMs), eb('revokedAt', '<=', now - endedRowKeptMs)]),
        )
        .executeTakeFirst()
      return Number(numDeletedRows)
    },

    /** Ends one of the user's own sessions (logout by an access token's `sid`, or from the session list). */
    async revokeSession(sessionId: string, userId: string): Promise<boolean> {
      const now = Date.now()
      const ended = await revokeAndAnnounce(now, (trx) =>
        revoke(trx, now).where('id', '=', sessionId).where('userId', '=', userId).returning(['id', 'userId']).execute(),
      )
      return ended.length > 0
    },

    /** "Log out everywhere": ends every session of the user; returns how many were live. */
    async revokeAllForUser(userId: string): Promise<number> {
      const now = Date.now()
      const ended = await revokeAndAnnounce(now, (trx) =>
        revoke(trx, now).where('userId', '=', userId).returning(['id', 'userId']).execute(),
      )
      return ended.length
    },

    /** The user's live sessions (not revoked, not past their lifetime), most recently used first. */
    listLive: (userId: string): Promise<SessionSummary[]> =>
      db
        .selectFrom('loginSessions')
        .select(['id', 'createdAt as createdAtMs', 'lastUsedAt as lastUsedAtMs', 'userAgent'])
        .where('userId', '=', userId)
        .where('revokedAt', 'is', null)
        .where('expiresAt', '>', Date.now())
        .orderBy('lastUsedAt', 'desc')
        .orderBy('createdAt', 'desc')
        .execute(),

    /**
     * The bank's own check of an access token's `sid`: refused when the session was revoked, when it is not a session
     * of the token's `sub`, and also when the bank does not know it (deny by default: a deleted row must never turn a refused token into an accepted one). By
     * primary key, once per authenticated request at the bank, so right across replicas.
     *
     * Read-through rather than an in-memory view kept by LISTEN/NOTIFY, measured (docs/scaling.md,
     * e2e/bench/revocation-check.ts): on PostgreSQL it adds ~0.12 ms and ~0.07 ms of bank CPU to a request, a tenth of
     * a refresh; in return a revocation committed on any replica is seen by the very next request on every other one
     * (a notification arrives some time after the commit, and has no replay), and deny-by-default needs no copy of
     * every live session in every replica's memory.
     */
    async refusesAccessTokensOf(sessionId: string, userId: string): Promise<boolean> {
      const row = await db
        .selectFrom('loginSessions')
        .select(['revokedAt', 'expiresAt', 'userId'])
        .where('id', '=', sessionId)
        .executeTakeFirst()
      // An ended session (revoked, or past its lifetime) refuses its tokens whatever their `exp` says. A token pairing
      // someone's live `sid` with another `sub` was never issued: only a holder of the signing key (with HS256, every
      // verifying service) could have made it, to act as any user through their own session.
      return row === undefined || row.revokedAt !== null || row.expiresAt <= Date.now() || row.userId !== userId
    },
  }
}
export type SessionsRepository = ReturnType<typeof createSessionsRepository>
