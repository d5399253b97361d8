import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorResponse, Ok, PublicUser, SIGNED_IN } from '@sso/shared'

/** Who the access token says is signed in; registered in the signed-in scope, so `request.user` is always set. */
export const meRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Straight from the verified token: retirement has no users table and never asks the bank.
  app.get(
    '/api/me',
    { schema: { security: SIGNED_IN, response: { 200: Ok(PublicUser), 401: ErrorResponse } } },
    async (request) => {
      return { status: 'ok', data: { id: request.user.id, username: request.user.username } } as const
    },
  )
}
