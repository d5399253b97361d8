import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorResponse, NotFoundError, Ok, SIGNED_IN, TooManyAttemptsError, withRetryAfter } from '@sso/shared'
import { Type } from 'typebox'
import type { RetirementSecurityEvents } from '../security-events.js'
import { CONTRIBUTIONS_PER_PAGE, MAX_CONTRIBUTION_CENTS, type PlansRepository } from './plans-repository.js'

const Contribution = Type.Object({
  id: Type.String({ format: 'uuid' }),
  amountCents: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
})
const Contributions = Type.Array(Contribution, {
  maxItems: CONTRIBUTIONS_PER_PAGE,
  description: `newest first, at most ${CONTRIBUTIONS_PER_PAGE}`,
})
const More = Type.Boolean({
  description: 'true when older contributions exist: GET /api/plan/contributions?before=<the last id> lists them',
})
const Plan = Type.Object({
  balanceCents: Type.Integer({ description: 'the sum of all contributions, listed or not' }),
  contributions: Contributions,
  more: More,
})
const ContributionsPage = Type.Object({ contributions: Contributions, more: More })
const PageQuery = Type.Object(
  { before: Type.String({ format: 'uuid', description: 'the id of a contribution of yours: list the older ones' }) },
  { additionalProperties: false },
)
const NewContribution = Type.Object(
  { amountCents: Type.Integer({ minimum: 1, maximum: MAX_CONTRIBUTION_CENTS }) },
  { additionalProperties: false },
)

export interface PlansRoutesOptions {
  plans: PlansRepository
  events: RetirementSecurityEvents
}

/** The JSON API; registered in a scope that requires a valid access token, so `request.user` is always set. */
export const plansRoutes: FastifyPluginAsyncTypebox<PlansRoutesOptions> = async (app, { plans, events }) => {
  app.get(
    '/api/plan',
    { schema: { security: SIGNED_IN, response: { 200: Ok(Plan), 401: ErrorResponse } } },
    async (request) => {
      return { status: 'ok', data: await plans.findPlan(request.user.id) } as const
    },
  )

  app.get(
    '/api/plan/contributions',
    {
      schema: {
        security: SIGNED_IN,
        querystring: PageQuery,
        response: { 200: Ok(ContributionsPage), 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (request) => {
      const page = await plans.findContributionsBefore(request.user.id, request.query.before)
      // Another user's contribution and one that never existed look the same: ids cannot be probed.
      if (!page) throw new NotFoundError('No such contribution in your plan')
      return { status: 'ok', data: page } as const
    },
  )

  app.post(
    '/api/plan/contributions',
    {
      schema: {
        security: SIGNED_IN,
        body: NewContribution,
        response: { 201: Ok(Contribution), 400: ErrorResponse, 401: ErrorResponse, 429: ErrorResponse },
      },
    },
    async (request, reply) => {
      const outcome = await plans.addContribution(request.user.id, request.body.amountCents)
      if (outcome.kind === 'throttled') {
        events.contributionThrottled()
        throw withRetryAfter(new TooManyAttemptsError(String(outcome.retryAfterSeconds)), outcome.retryAfterSeconds)
      }
      events.contributionAdded()
      return reply.code(201).send({ status: 'ok', data: outcome.contribution })
    },
  )
}
