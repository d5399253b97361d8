import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorResponse, Ok } from '@sso/shared'
import { Type } from 'typebox'
import type { LoginSessions } from '../sessions/login-sessions.js'
import { LOGINS_PER_ADDRESS } from './address-limits.js'
import type { Authenticate } from './authenticate.js'
import { Credentials, formatCredentialsErrors, normalizeCredentials } from './credentials.js'

const TokenResponse = Ok(Type.String({ description: 'the access token (a JWT), also set as the access_token cookie' }))

export const loginRoutes: FastifyPluginAsyncTypebox<{
  authenticate: Authenticate
  loginSessions: LoginSessions
}> = async (app, { authenticate, loginSessions }) => {
  app.post(
    '/api/login',
    {
      config: { rateLimit: LOGINS_PER_ADDRESS },
      preValidation: normalizeCredentials,
      schemaErrorFormatter: formatCredentialsErrors,
      schema: {
        body: Credentials,
        response: { 200: TokenResponse, 400: ErrorResponse, 401: ErrorResponse, 429: ErrorResponse },
      },
    },
    async (request, reply) => {
      const user = await authenticate(request.body, request)
      const { accessToken } = await loginSessions.start(request, reply, user)
      return { status: 'ok' as const, data: accessToken }
    },
  )
}
