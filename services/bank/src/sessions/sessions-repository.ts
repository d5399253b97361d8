import { randomUUID } from 'node:crypto'
import { CLOCK_TOLERANCE_SECONDS, type Database } from '@sso/shared'
import type { EndedSession } from '../backchannel/logout-outbox.js'
import { hashRefreshToken, type PresentedRefreshToken, type RefreshTokens } from './refresh-token.js'

export interface LoginSession {
  /** The access tokens' `sid`. */
  id: string
  userId: string
  /** Milliseconds since the epoch: login time + REFRESH_TOKEN_TTL, whatever rotations happen in between. */
  expiresAt: number
}

/** A live login session as its user sees it in the session list; times in milliseconds since the epoch. */
export interface SessionSummary {
  id: string
  createdAt: number
  lastUsedAt: number
  userAgent: string | null
}

/** Where revocations are announced (single logout); `enqueue` runs inside the revocation's transaction. */
export interface RevocationOutbox {
  enqueue(ended: readonly EndedSession[], revokedAt: number): void
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

interface SessionFamilyRow {
  userId: string
  expiresAt: number
  revokedAt: number | null
  generation: number
  previousTokenHash: Buffer | null
  rotatedAt: number | null
  successorBox: Buffer | null
}

/** Login sessions and their refresh tokens: one row per session, whatever the number of rotations. */
export function createSessionsRepository(
  db: Database,
  { refreshTokenTtlSeconds, accessTokenTtlSeconds, reuseGraceSeconds, tokens, outbox }: SessionsRepositoryOptions,
) {
  const reuseGraceMs = reuseGraceSeconds * 1000
  // An access token can be issued until its session ends (revoked or past its lifetime), and is accepted until its
  // `exp` plus the verifier's clock tolerance. Until then the session's row must stay: the bank refuses a token whose
  // session it does not know (deny by default), so deleting the row earlier would not resurrect anything, but would
  // refuse a logged-in user's last access token; keeping it is what makes the refusal of revoked ones hold.
  const endedRowKeptMs = (accessTokenTtlSeconds + CLOCK_TOLERANCE_SECONDS) * 1000

  const insert = db.prepare<[string, string, Buffer, number, number, number, string | null]>(`
    INSERT INTO login_sessions (id, user_id, refresh_token_hash, created_at, last_used_at, expires_at, user_agent)
    VALUES (?, ?, ?, ?, ?, ?, ?)`)
  // The compare-and-set of rotation: of any number of requests presenting the same token, on one process or on many
  // replicas sharing the database, exactly one matches the current hash. It moves the current token to `previous`
  // and leaves the successor sealed for the others (see below).
  const rotate = db.prepare<
    { id: string; presented: Buffer; generation: number; next: Buffer; box: Buffer | null; now: number },
    LoginSession
  >(`
    UPDATE login_sessions SET
      refresh_token_hash = @next, generation = generation + 1, previous_token_hash = @presented,
      rotated_at = @now, successor_box = @box, last_used_at = @now
    WHERE id = @id AND refresh_token_hash = @presented AND generation = @generation
      AND revoked_at IS NULL AND expires_at > @now
    RETURNING id, user_id AS userId, expires_at AS expiresAt`)
  const selectFamily = db.prepare<[string], SessionFamilyRow>(`
    SELECT user_id AS userId, expires_at AS expiresAt, revoked_at AS revokedAt, generation,
      previous_token_hash AS previousTokenHash, rotated_at AS rotatedAt, successor_box AS successorBox
    FROM login_sessions WHERE id = ?`)
  // Tokens of the earlier format carry no session id: found by their hash while they are a session's current token.
  const selectByCurrentHash = db.prepare<[Buffer], { id: string; generation: number }>(
    'SELECT id, generation FROM login_sessions WHERE refresh_token_hash = ?',
  )
  // Every revocation returns what it ended, so the outbox gets its notices in the same transaction, and forgets the
  // sealed successor: nothing of an ended session can be opened any more.
  const revokeById = db.prepare<[number, string], EndedSession>(`
    UPDATE login_sessions SET revoked_at = ?, successor_box = NULL WHERE id = ? AND revoked_at IS NULL
    RETURNING id, user_id AS userId`)
  const revokeForUser = db.prepare<[number, string, string], EndedSession>(`
    UPDATE login_sessions SET revoked_at = ?, successor_box = NULL WHERE id = ? AND user_id = ? AND revoked_at IS NULL
    RETURNING id, user_id AS userId`)
  const revokeAllForUser = db.prepare<[number, string], EndedSession>(`
    UPDATE login_sessions SET revoked_at = ?, successor_box = NULL WHERE user_id = ? AND revoked_at IS NULL
    RETURNING id, user_id AS userId`)
  // Logout by the refresh cookie: the session's current or previous token, or any token of it the bank issued.
  const revokeByToken = db.prepare<{ id: string; hash: Buffer; isGenuine: number; now: number }, EndedSession>(`
    UPDATE login_sessions SET revoked_at = @now, successor_box = NULL
    WHERE id = @id AND revoked_at IS NULL
      AND (@isGenuine = 1 OR refresh_token_hash = @hash OR previous_token_hash = @hash)
    RETURNING id, user_id AS userId`)
  const revokeByCurrentHash = db.prepare<{ hash: Buffer; now: number }, EndedSession>(`
    UPDATE login_sessions SET revoked_at = @now, successor_box = NULL
    WHERE refresh_token_hash = @hash AND revoked_at IS NULL
    RETURNING id, user_id AS userId`)
  const selectLive = db.prepare<[string, number], SessionSummary>(`
    SELECT id, created_at AS createdAt, last_used_at AS lastUsedAt, user_agent AS userAgent
    FROM login_sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?
    ORDER BY last_used_at DESC, created_at DESC`)
  // By primary key, once per authenticated request at the bank: microseconds, and right across processes.
  const selectRevokedAt = db.prepare<[string], { revokedAt: number | null }>(
    'SELECT revoked_at AS revokedAt FROM login_sessions WHERE id = ?',
  )
  // A session has ended at min(revoked_at, expires_at); its last access token is dead endedRowKeptMs later. (SQLite's
  // two-argument min() is PostgreSQL's LEAST.)
  const deleteEnded = db.prepare<[number]>(
    'DELETE FROM login_sessions WHERE min(expires_at, coalesce(revoked_at, expires_at)) <= ?',
  )
  const forgetSealedSuccessors = db.prepare<[number]>(
    'UPDATE login_sessions SET successor_box = NULL WHERE successor_box IS NOT NULL AND rotated_at <= ?',
  )

  /** Runs a revocation and queues its logout notices, in one transaction. */
  const revokeAndAnnounce = db.transaction((revoke: () => EndedSession[], now: number) => {
    const ended = revoke()
    outbox.enqueue(ended, now)
    return ended
  })

  /**
   * One transaction, so on SQLite nothing interleaves between the compare-and-set and the read of what it decided.
   * On PostgreSQL the loser's read sees the winner's committed row (READ COMMITTED waits for the row lock the
   * winner's UPDATE holds); no in-process lock is the source of truth anywhere.
   */
  const decideRotation = db.transaction((presented: PresentedRefreshToken, now: number): Rotation => {
    const current = presented.family
      ? { id: presented.family.sessionId, generation: presented.family.generation }
      : selectByCurrentHash.get(presented.hash)
    if (!current) return { outcome: 'invalid' }
    const successor = tokens.issue(current.id, current.generation + 1)
    const box =
      reuseGraceMs > 0 ? tokens.sealSuccessor(presented.token, successor, current.id, current.generation + 1) : null
    const won = rotate.get({
      id: current.id,
      presented: presented.hash,
      generation: current.generation,
      next: hashRefreshToken(successor),
      box,
      now,
    })
    if (won) return { outcome: 'rotated', session: won, refreshToken: successor, replayed: false }

    // Lost: the token is not the session's current one. Read what the rotations decided.
    const row = selectFamily.get(current.id)
    if (!row || row.revokedAt !== null || row.expiresAt <= now) return { outcome: 'invalid' }
    const session = { id: current.id, userId: row.userId, expiresAt: row.expiresAt }
    if (row.previousTokenHash?.equals(presented.hash)) {
      // The token rotated most recently: a parallel tab, a retried request. Within the window it gets the very same
      // successor (so the session never forks); the database only hands it out to whoever holds this token.
      const isWithinGrace = row.rotatedAt !== null && now < row.rotatedAt + reuseGraceMs
      const sealed = isWithinGrace && row.successorBox ? row.successorBox : undefined
      const refreshToken = sealed && tokens.openSuccessor(presented.token, sealed, current.id, row.generation)
      if (refreshToken) return { outcome: 'rotated', session, refreshToken, replayed: true }
      return revokeForReuse(current.id, now)
    }
    // Any older generation, as long as the bank really issued it: an invented token must not end anyone's session.
    if (presented.family && presented.family.generation < row.generation && tokens.isGenuine(presented)) {
      return revokeForReuse(current.id, now)
    }
    return { outcome: 'invalid' }
  })

  function revokeForReuse(sessionId: string, now: number): Rotation {
    revokeAndAnnounce(() => revokeById.all(now, sessionId), now)
    return { outcome: 'reused', sessionId }
  }

  return {
    /** Starts a login session; the refresh token is returned once and only its hash is kept. */
    open(userId: string, userAgent: string | undefined): { session: LoginSession; refreshToken: string } {
      const now = Date.now()
      const session = { id: randomUUID(), userId, expiresAt: now + refreshTokenTtlSeconds * 1000 }
      const refreshToken = tokens.issue(session.id, 0)
      insert.run(session.id, userId, hashRefreshToken(refreshToken), now, now, session.expiresAt, userAgent ?? null)
      return { session, refreshToken }
    },

    /**
     * Swaps the current refresh token for a new one. The one rotated most recently, again within the grace window,
     * gets the same successor; any older token of the session (or that one after the window) revokes the session.
     */
    rotate(presentedToken: string): Rotation {
      const presented = tokens.parse(presentedToken)
      if (!presented) return { outcome: 'invalid' }
      return decideRotation(presented, Date.now())
    },

    /** The session a presented token was issued for, if the bank really issued it (its MAC verifies). */
    findIssuedSession(presentedToken: string): string | undefined {
      const presented = tokens.parse(presentedToken)
      return presented && tokens.isGenuine(presented) ? presented.family?.sessionId : undefined
    },

    /** Logout by the refresh cookie (any token of the session); returns the revoked session, if any. */
    revokeByRefreshToken(presentedToken: string): EndedSession | undefined {
      const presented = tokens.parse(presentedToken)
      if (!presented) return undefined
      const now = Date.now()
      const { family, hash } = presented
      const revoke = family
        ? () => revokeByToken.all({ id: family.sessionId, hash, isGenuine: tokens.isGenuine(presented) ? 1 : 0, now })
        : () => revokeByCurrentHash.all({ hash, now })
      return revokeAndAnnounce(revoke, now)[0]
    },

    /**
     * The hourly clean-up: forgets sealed successors whose window has passed, and deletes the rows of sessions that
     * ended (revoked or past their lifetime) longer ago than an access token lives. Returns how many rows went.
     */
    deleteEnded(): number {
      const now = Date.now()
      forgetSealedSuccessors.run(now - reuseGraceMs)
      return deleteEnded.run(now - endedRowKeptMs).changes
    },

    /** Ends one of the user's own sessions (logout by an access token's `sid`, or from the session list). */
    revokeSession(sessionId: string, userId: string): boolean {
      const now = Date.now()
      return revokeAndAnnounce(() => revokeForUser.all(now, sessionId, userId), now).length > 0
    },

    /** "Log out everywhere": ends every session of the user; returns how many were live. */
    revokeAllForUser(userId: string): number {
      const now = Date.now()
      return revokeAndAnnounce(() => revokeAllForUser.all(now, userId), now).length
    },

    /** The user's live sessions (not revoked, not past their lifetime), most recently used first. */
    listLive: (userId: string) => selectLive.all(userId, Date.now()),

    /**
     * The bank's own check of an access token's `sid`: refused when the session was revoked, and also when the bank
     * does not know it (deny by default: a deleted row must never turn a refused token into an accepted one).
     */
    refusesAccessTokensOf(sessionId: string): boolean {
      const row = selectRevokedAt.get(sessionId)
      return row === undefined || row.revokedAt !== null
    },
  }
}
export type SessionsRepository = ReturnType<typeof createSessionsRepository>
