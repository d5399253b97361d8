import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorResponse, Ok, PublicUser, SIGNED_IN } from '@sso/shared'

/** Who the access token says is signed in; registered in the signed-in scope. */
export const meRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/me',
    { schema: { security: SIGNED_IN, response: { 200: Ok(PublicUser), 401: ErrorResponse } } },
    async (request) => ({
      status: 'ok' as const,
      data: { id: request.user.id, username: request.user.username },
    }),
  )
}
