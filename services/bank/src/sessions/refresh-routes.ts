import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorResponse, InvalidRefreshTokenError, Ok } from '@sso/shared'
import { Type } from 'typebox'
import type { LoginSessions } from './login-sessions.js'

// No body at all is the plain logout of this session; `{"everywhere": true}` ends every session of the user.
const LogoutBody = Type.Union([
  Type.Null(),
  Type.Undefined(),
  Type.Object({ everywhere: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
])

const TokenResponse = Ok(Type.String({ description: 'a new access token, also set as the access_token cookie' }))

/** Refresh and logout: both act on the login session of the refresh cookie. */
export const refreshRoutes: FastifyPluginAsyncTypebox<{ loginSessions: LoginSessions }> = async (
  app,
  { loginSessions },
) => {
  app.post(
    '/api/refresh',
    { schema: { response: { 200: TokenResponse, 401: ErrorResponse } } },
    async (request, reply) => {
      const signedIn = await loginSessions.resume(request, reply)
      if (!signedIn) throw new InvalidRefreshTokenError()
      return { status: 'ok' as const, data: signedIn.accessToken }
    },
  )

  // Always 204: logging out of a session that already ended is still a successful logout.
  app.post('/api/logout', { schema: { body: LogoutBody, response: { 204: Type.Null() } } }, async (request, reply) => {
    await loginSessions.end(request, reply, { everywhere: request.body?.everywhere === true })
    return reply.code(204).send(null)
  })
}
