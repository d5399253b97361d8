import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorResponse, Ok, SIGNED_IN } from '@sso/shared'
import { Type } from 'typebox'
import { MAX_CONTRIBUTION_CENTS, type PlansRepository } from './plans-repository.js'

const Contribution = Type.Object({ id: Type.String(), amountCents: Type.Integer(), createdAt: Type.String() })
const Plan = Type.Object({ balanceCents: Type.Integer(), contributions: Type.Array(Contribution) })
const NewContribution = Type.Object(
  { amountCents: Type.Integer({ minimum: 1, maximum: MAX_CONTRIBUTION_CENTS }) },
  { additionalProperties: false },
)

/** The JSON API; registered in a scope that requires a valid access token, so `request.user` is always set. */
export const plansRoutes: FastifyPluginAsyncTypebox<{ plans: PlansRepository }> = async (app, { plans }) => {
  app.get(
    '/api/plan',
    { schema: { security: SIGNED_IN, response: { 200: Ok(Plan), 401: ErrorResponse } } },
    async (request) => {
      return { status: 'ok', data: await plans.findPlan(request.user.id) } as const
    },
  )

  app.post(
    '/api/plan/contributions',
    {
      schema: {
        security: SIGNED_IN,
        body: NewContribution,
        response: { 201: Ok(Contribution), 400: ErrorResponse, 401: ErrorResponse },
      },
    },
    async (request, reply) => {
      const contribution = await plans.addContribution(request.user.id, request.body.amountCents)
      return reply.code(201).send({ status: 'ok', data: contribution })
    },
  )
}
