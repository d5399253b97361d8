import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorResponse } from '@sso/shared'
import { Type } from 'typebox'
import type { LoginSessions } from './login-sessions.js'

// No body at all is the plain logout of this session; `{"everywhere": true}` ends every session of the user.
const LogoutBody = Type.Union([
  Type.Null(),
  Type.Undefined(),
  Type.Object({ everywhere: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
])

/** Logout: ends the login session of the refresh cookie (or of the Bearer token), or every session of the user. */
export const logoutRoutes: FastifyPluginAsyncTypebox<{ loginSessions: LoginSessions }> = async (
  app,
  { loginSessions },
) => {
  // Always 204: logging out of a session that already ended is still a successful logout.
  app.post(
    '/api/logout',
    {
      schema: {
        description:
          'Ends the login session of the refresh cookie, or else of the Bearer token, and clears both cookies. ' +
          '`{"everywhere": true}` ends every session of the user.',
        body: LogoutBody,
        response: { 204: Type.Null(), 400: ErrorResponse },
      },
    },
    async (request, reply) => {
      await loginSessions.end(request, reply, { everywhere: request.body?.everywhere === true })
      return reply.code(204).send(null)
    },
  )
}
