import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorResponse, Ok, SIGNED_IN } from '@sso/shared'
import { Type } from 'typebox'
import type { AccountsRepository } from './accounts-repository.js'

const Account = Type.Object({ id: Type.String(), name: Type.String(), balanceCents: Type.Integer() })

/** The signed-in user's accounts; registered in the signed-in scope. */
export const accountsRoutes: FastifyPluginAsyncTypebox<{ accounts: AccountsRepository }> = async (
  app,
  { accounts },
) => {
  app.get(
    '/api/accounts',
    { schema: { security: SIGNED_IN, response: { 200: Ok(Type.Array(Account)), 401: ErrorResponse } } },
    async (request) => ({ status: 'ok' as const, data: await accounts.listForUser(request.user.id) }),
  )
}
