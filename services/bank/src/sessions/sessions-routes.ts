import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorResponse, NotFoundError, Ok, SIGNED_IN } from '@sso/shared'
import { Type } from 'typebox'
import type { LoginSessions } from './login-sessions.js'

const SessionView = Type.Object({
  id: Type.String({ description: "the access tokens' sid" }),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.String({ format: 'date-time' }),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  current: Type.Boolean({ description: 'the session of the access token that asked' }),
})
const SessionParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })

/** The signed-in user's login sessions: the list, and ending one of them (single logout follows). */
export const sessionsRoutes: FastifyPluginAsyncTypebox<{ loginSessions: LoginSessions }> = async (
  app,
  { loginSessions },
) => {
  const listSchema = { security: SIGNED_IN, response: { 200: Ok(Type.Array(SessionView)), 401: ErrorResponse } }
  app.get('/api/sessions', { schema: listSchema }, async (request) => {
    const data = (await loginSessions.listLive(request.user.id)).map((session) => ({
      id: session.id,
      createdAt: new Date(session.createdAtMs).toISOString(),
      lastUsedAt: new Date(session.lastUsedAtMs).toISOString(),
      userAgent: session.userAgent,
      current: session.id === request.user.sessionId,
    }))
    return { status: 'ok' as const, data }
  })

  app.delete(
    '/api/sessions/:id',
    {
      schema: {
        security: SIGNED_IN,
        params: SessionParams,
        response: { 204: Type.Null(), 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (request, reply) => {
      // An unknown id, an ended session and another user's look the same: others' session ids cannot be probed.
      if (!(await loginSessions.endOne(request, request.params.id, request.user.id)))
        throw new NotFoundError('No such login session')
      // Ending the session this browser is using is a logout: its cookies go too.
      if (request.params.id === request.user.sessionId) reply.clearLoginCookies()
      return reply.code(204).send(null)
    },
  )
}
