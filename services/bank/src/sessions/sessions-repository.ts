import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { Database } from '@sso/shared'
import type { EndedSession } from '../backchannel/logout-outbox.js'

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
  | { outcome: 'rotated'; session: LoginSession; refreshToken: string }
  /** The token was already rotated away from: someone else holds the session's tokens, so it is now revoked. */
  | { outcome: 'reused'; sessionId: string }
  /** Unknown, expired or revoked. */
  | { outcome: 'invalid' }

// 32 random bytes (256 bits) in base64url without padding: always 43 characters.
const REFRESH_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/

/** Refresh tokens are looked up by hash, so a leaked database holds nothing that can be presented. */
function hashRefreshToken(refreshToken: string): Buffer {
  return createHash('sha256').update(refreshToken).digest()
}

function newRefreshToken(): string {
  return randomBytes(32).toString('base64url')
}

/** Login sessions and their refresh tokens. */
export function createSessionsRepository(
  db: Database,
  { refreshTokenTtlSeconds, outbox }: { refreshTokenTtlSeconds: number; outbox: RevocationOutbox },
) {
  const insert = db.prepare<[string, string, Buffer, number, number, number, string | null]>(`
    INSERT INTO login_sessions (id, user_id, refresh_token_hash, created_at, last_used_at, expires_at, user_agent)
    VALUES (?, ?, ?, ?, ?, ?, ?)`)
  // The compare-and-swap of rotation: of two requests presenting the same token, exactly one matches.
  const rotate = db.prepare<{ presented: Buffer; next: Buffer; now: number }, LoginSession>(`
    UPDATE login_sessions SET refresh_token_hash = @next, last_used_at = @now
    WHERE refresh_token_hash = @presented AND revoked_at IS NULL AND expires_at > @now
    RETURNING id, user_id AS userId, expires_at AS expiresAt`)
  const retire = db.prepare<[Buffer, string, number]>(
    'INSERT INTO retired_refresh_tokens (token_hash, session_id, retired_at) VALUES (?, ?, ?)',
  )
  const selectRetired = db.prepare<[Buffer], { sessionId: string }>(
    'SELECT session_id AS sessionId FROM retired_refresh_tokens WHERE token_hash = ?',
  )
  // Every revocation returns what it ended, so the outbox gets its notices in the same transaction.
  const revokeById = db.prepare<[number, string], EndedSession>(
    'UPDATE login_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING id, user_id AS userId',
  )
  const revokeForUser = db.prepare<[number, string, string], EndedSession>(`
    UPDATE login_sessions SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL
    RETURNING id, user_id AS userId`)
  const revokeAllForUser = db.prepare<[number, string], EndedSession>(`
    UPDATE login_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL
    RETURNING id, user_id AS userId`)
  const revokeByToken = db.prepare<{ hash: Buffer; now: number }, EndedSession>(`
    UPDATE login_sessions SET revoked_at = @now
    WHERE revoked_at IS NULL AND (
      refresh_token_hash = @hash OR id = (SELECT session_id FROM retired_refresh_tokens WHERE token_hash = @hash)
    )
    RETURNING id, user_id AS userId`)
  const selectLive = db.prepare<[string, number], SessionSummary>(`
    SELECT id, created_at AS createdAt, last_used_at AS lastUsedAt, user_agent AS userAgent
    FROM login_sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?
    ORDER BY last_used_at DESC, created_at DESC`)
  // By primary key, once per authenticated request at the bank: microseconds, and right across processes.
  const selectRevoked = db.prepare<[string], { revoked: 1 }>(
    'SELECT 1 AS revoked FROM login_sessions WHERE id = ? AND revoked_at IS NOT NULL',
  )

  /** Runs a revocation and queues its logout notices, in one transaction. */
  const revokeAndAnnounce = db.transaction((revoke: () => EndedSession[], now: number) => {
    const ended = revoke()
    outbox.enqueue(ended, now)
    return ended
  })

  const deleteExpired = db.prepare<[number]>('DELETE FROM login_sessions WHERE expires_at <= ?')

  const rotateAndRetire = db.transaction((presented: Buffer, next: Buffer, now: number) => {
    const session = rotate.get({ presented, next, now })
    if (session) retire.run(presented, session.id, now)
    return session
  })

  return {
    /** Starts a login session; the refresh token is returned once and only its hash is kept. */
    open(userId: string, userAgent: string | undefined): { session: LoginSession; refreshToken: string } {
      const now = Date.now()
      const refreshToken = newRefreshToken()
      const session = { id: randomUUID(), userId, expiresAt: now + refreshTokenTtlSeconds * 1000 }
      insert.run(session.id, userId, hashRefreshToken(refreshToken), now, now, session.expiresAt, userAgent ?? null)
      return { session, refreshToken }
    },

    /** Swaps a live refresh token for a new one; presenting a retired token revokes the whole session. */
    rotate(presentedToken: string): Rotation {
      if (!REFRESH_TOKEN_PATTERN.test(presentedToken)) return { outcome: 'invalid' }
      const presented = hashRefreshToken(presentedToken)
      const refreshToken = newRefreshToken()
      const now = Date.now()
      const session = rotateAndRetire(presented, hashRefreshToken(refreshToken), now)
      if (session) return { outcome: 'rotated', session, refreshToken }
      const retired = selectRetired.get(presented)
      if (!retired) return { outcome: 'invalid' }
      revokeAndAnnounce(() => revokeById.all(now, retired.sessionId), now)
      return { outcome: 'reused', sessionId: retired.sessionId }
    },

    /** Logout by the refresh cookie (current or retired token); returns the revoked session, if any. */
    revokeByRefreshToken(presentedToken: string): EndedSession | undefined {
      if (!REFRESH_TOKEN_PATTERN.test(presentedToken)) return undefined
      const hash = hashRefreshToken(presentedToken)
      const now = Date.now()
      return revokeAndAnnounce(() => revokeByToken.all({ hash, now }), now)[0]
    },

    /** Forgets sessions past their lifetime, and with them their retired tokens; returns how many. */
    deleteExpired: () => deleteExpired.run(Date.now()).changes,

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

    /** Whether the session an access token names has been revoked: the bank's own single-logout check. */
    isRevoked: (sessionId: string) => selectRevoked.get(sessionId) !== undefined,
  }
}
export type SessionsRepository = ReturnType<typeof createSessionsRepository>
