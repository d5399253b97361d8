import { TooManyAttemptsError } from '@sso/shared'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { UsersRepository } from '../identity/users-repository.js'
import type { BankSecurityEvents } from '../security-events.js'
import type { ChargeRotation, SpendRefreshBudget } from './refresh-limits.js'
import type { LoginSession, SessionsRepository } from './sessions-repository.js'

export interface SignedIn {
  user: { id: string; username: string }
  /** The login session's id: the access token's `sid`. */
  sessionId: string
  accessToken: string
}

/** Login sessions as the browser sees them: a session in the database, its two cookies on the reply. */
export function createLoginSessions({
  sessions,
  users,
  spendRefreshBudget,
  events,
}: {
  sessions: SessionsRepository
  users: UsersRepository
  spendRefreshBudget: SpendRefreshBudget
  /** Every login, refresh and revocation is recorded here: an audit line and a metric. */
  events: BankSecurityEvents
}) {
  function setRefreshCookie(reply: FastifyReply, refreshToken: string, session: LoginSession) {
    // The cookie dies with the session: rotation never extends a session's absolute lifetime.
    reply.setRefreshTokenCookie(refreshToken, Math.max(0, Math.floor((session.expiresAtMs - Date.now()) / 1000)))
  }

  return {
    /** Opens a login session for a user who just proved who they are; sets both cookies. */
    async start(request: FastifyRequest, reply: FastifyReply, user: SignedIn['user']): Promise<SignedIn> {
      // The browser's previous session (perhaps someone else's, on a shared computer) ends with its cookie.
      const previous = request.readRefreshTokenCookie()
      const ended = previous ? await sessions.revokeByRefreshToken(previous) : undefined
      if (ended) events.sessionRevoked(request, 'new_login', { sub: ended.userId, sid: ended.id })
      const { session, refreshToken } = await sessions.open(user.id, request.headers['user-agent'])
      setRefreshCookie(reply, refreshToken, session)
      const accessToken = await reply.issueAccessToken(user, session)
      events.loginSucceeded(request, user.id, session.id)
      return { user: { id: user.id, username: user.username }, sessionId: session.id, accessToken }
    },

    /**
     * Continues the session of the refresh cookie: rotates the refresh token and renews both cookies (a parallel
     * tab within the grace window gets the same refresh token, and an access token of its own). Null (and the
     * cookies cleared) when there is no live session behind it; a 429 error when the refresh budget is spent.
     */
    async resume(request: FastifyRequest, reply: FastifyReply): Promise<SignedIn | null> {
      const presented = request.readRefreshTokenCookie()
      if (!presented) return null
      let chargeRotation: ChargeRotation
      try {
        chargeRotation = await spendRefreshBudget(request, presented)
      } catch (error) {
        if (error instanceof TooManyAttemptsError) events.refreshThrottled()
        throw error
      }
      const rotation = await sessions.rotate(presented)
      if (rotation.outcome === 'reused') events.refreshReuseDetected(request, rotation.sessionId)
      const user = rotation.outcome === 'rotated' ? await users.findById(rotation.session.userId) : undefined
      if (rotation.outcome !== 'rotated' || !user) {
        if (rotation.outcome !== 'reused') events.refreshRefused(request)
        reply.clearLoginCookies()
        return null
      }
      if (!rotation.replayed) await chargeRotation()
      setRefreshCookie(reply, rotation.refreshToken, rotation.session)
      const accessToken = await reply.issueAccessToken(user, rotation.session)
      events.refreshRotated(request, user.id, rotation.session.id, rotation.replayed)
      return { user: { id: user.id, username: user.username }, sessionId: rotation.session.id, accessToken }
    },

    /**
     * Logout: revokes the session of the refresh cookie and of the access token (with `everywhere`, every session
     * of their user), and clears both cookies. Each revocation queues its single-logout notices.
     */
    async end(request: FastifyRequest, reply: FastifyReply, { everywhere = false }: { everywhere?: boolean } = {}) {
      // Read before anything is revoked: afterwards the bank itself refuses this access token.
      const signedIn = await request.server.findSignedInUser(request)
      const presented = request.readRefreshTokenCookie()
      const ended = presented ? await sessions.revokeByRefreshToken(presented) : undefined
      if (ended) events.sessionRevoked(request, 'logout', { sub: ended.userId, sid: ended.id })
      // API clients may hold only an access token; its `sid` names the session to end.
      if (signedIn && (await sessions.revokeSession(signedIn.sessionId, signedIn.id))) {
        events.sessionRevoked(request, 'logout', { sub: signedIn.id, sid: signedIn.sessionId })
      }
      const userId = signedIn?.id ?? ended?.userId
      if (everywhere && userId) {
        const count = await sessions.revokeAllForUser(userId)
        if (count > 0) events.sessionRevoked(request, 'logout_everywhere', { sub: userId, count })
      }
      reply.clearLoginCookies()
    },

    /** The user's live login sessions, for the dashboard's list. */
    listLive: (userId: string) => sessions.listLive(userId),

    /** Ends one of the user's own sessions from the list; false when it is unknown, ended or someone else's. */
    async endOne(request: FastifyRequest, sessionId: string, userId: string): Promise<boolean> {
      const isEnded = await sessions.revokeSession(sessionId, userId)
      if (isEnded) events.sessionRevoked(request, 'ended_from_list', { sub: userId, sid: sessionId })
      return isEnded
    },
  }
}
export type LoginSessions = ReturnType<typeof createLoginSessions>
