import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorResponse, InvalidRefreshTokenError, Ok } from '@sso/shared'
import { Type } from 'typebox'
import type { LoginSessions } from './login-sessions.js'

const TokenResponse = Ok(Type.String({ description: 'a new access token, also set as the access_token cookie' }))

/** Refresh: a new access token for the login session of the refresh cookie. */
export const refreshRoutes: FastifyPluginAsyncTypebox<{ loginSessions: LoginSessions }> = async (
  app,
  { loginSessions },
) => {
  app.post(
    '/api/refresh',
    {
      schema: {
        description:
          'A new access token for the login session of the refresh cookie (which the bank set at login, HttpOnly); ' +
          'the refresh cookie is rotated. No body.',
        response: { 200: TokenResponse, 401: ErrorResponse, 429: ErrorResponse },
      },
    },
    async (request, reply) => {
      const signedIn = await loginSessions.resume(request, reply)
      if (!signedIn) throw new InvalidRefreshTokenError()
      return { status: 'ok' as const, data: signedIn.accessToken }
    },
  )
}
