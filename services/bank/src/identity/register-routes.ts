import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorResponse, Ok, PublicUser } from '@sso/shared'
import { SIGN_UPS_PER_ADDRESS } from './address-limits.js'
import { Credentials, formatCredentialsErrors, normalizeCredentials } from './credentials.js'
import type { Register } from './registration.js'

export const registerRoutes: FastifyPluginAsyncTypebox<{ register: Register }> = async (app, { register }) => {
  app.post(
    '/api/register',
    {
      config: { rateLimit: SIGN_UPS_PER_ADDRESS },
      preValidation: normalizeCredentials,
      schemaErrorFormatter: formatCredentialsErrors,
      schema: {
        body: Credentials,
        response: { 201: Ok(PublicUser), 400: ErrorResponse, 409: ErrorResponse, 429: ErrorResponse },
      },
    },
    async (request, reply) => {
      const user = await register(request.body, request)
      return reply.code(201).send({ status: 'ok', data: { id: user.id, username: user.username } })
    },
  )
}
