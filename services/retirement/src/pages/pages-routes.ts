import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { replyWithoutInternals, type SignedInUser } from '@sso/shared'
import type { FastifyError, FastifyReply } from 'fastify'
import { Type } from 'typebox'
import { CONTRIBUTION_LIMIT, type ContributionsPage, type PlansRepository } from '../plans/plans-repository.js'
import type { RetirementSecurityEvents } from '../security-events.js'
import { parseContributionForm } from './contribution-form.js'
import { renderExpiredFormPage, renderMissingPage, renderPlanPage } from './plan-page.js'

// Loose on purpose: whatever the browser sent, the plan page comes back with a sentence, not a JSON error. A script
// may send the CSRF token as a header and no body at all.
const ContributionForm = Type.Union([
  Type.Undefined(),
  Type.Object({ amount: Type.Optional(Type.Unknown()), amountCents: Type.Optional(Type.Unknown()) }),
])
// `before` is a contribution id, as the page's own "older" link writes it; checked in the handler, for a page not JSON.
const PlanPageQuery = Type.Object({ before: Type.Optional(Type.Unknown()) })
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
// Pages, forms and redirects are for browsers: not part of the JSON API's OpenAPI document (docs/spec.md has them).
const PAGE = { hide: true }

export interface PagesOptions {
  plans: PlansRepository
  events: RetirementSecurityEvents
  bankPublicUrl: string
  retirementPublicUrl: string
}

/** The browser half: the plan page and its form. Without a valid token the browser is sent to the bank to log in. */
export const pagesRoutes: FastifyPluginAsyncTypebox<PagesOptions> = async (app, options) => {
  const { plans, events } = options
  const bankPublicUrl = options.bankPublicUrl.replace(/\/+$/, '')
  const retirementPublicUrl = options.retirementPublicUrl.replace(/\/+$/, '')
  const signOutUrl = `${bankPublicUrl}/logout?return_to=${encodeURIComponent(`${retirementPublicUrl}/`)}`

  // A form without a valid CSRF token gets a page, not JSON, as at the bank; everything else as everywhere.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.code === 'FST_CSRF_INVALID_TOKEN' || error.code === 'FST_CSRF_MISSING_SECRET') {
      return reply.code(403).type('text/html; charset=utf-8').send(renderExpiredFormPage())
    }
    return replyWithoutInternals(error, request, reply)
  })

  /**
   * 303 to the bank's login, which sends the browser back here (or straight back, if its login session lives).
   * `target` is the request target as sent: usually a path, but `GET http://evil.example/ HTTP/1.1` (absolute form,
   * as to a proxy) is valid HTTP too, so only its path and query are kept, after our own public URL.
   */
  function redirectToBankLogin(reply: FastifyReply, target: string) {
    const { pathname, search } = new URL(target, retirementPublicUrl)
    const returnTo = encodeURIComponent(`${retirementPublicUrl}${pathname}${search}`)
    return reply.redirect(`${bankPublicUrl}/login?return_to=${returnTo}`, 303)
  }

  /** The plan page: the newest contributions, or with `olderPage` those of its "older" link. */
  async function sendPlanPage(
    reply: FastifyReply,
    user: SignedInUser,
    statusCode: number,
    form: { error?: string; amount?: string } = {},
    olderPage?: ContributionsPage,
  ) {
    const plan = await plans.findPlan(user.id)
    const page = renderPlanPage({
      username: user.username,
      balanceCents: plan.balanceCents,
      contributions: olderPage ?? plan,
      isOlderPage: olderPage !== undefined,
      csrfToken: reply.generateCsrf(),
      bankPublicUrl,
      signOutUrl,
      ...form,
    })
    return reply.code(statusCode).type('text/html; charset=utf-8').send(page)
  }

  function sendMissingPage(reply: FastifyReply, statusCode: 400 | 404) {
    return reply.code(statusCode).type('text/html; charset=utf-8').send(renderMissingPage())
  }

  app.get('/', { schema: { ...PAGE, querystring: PlanPageQuery } }, async (request, reply) => {
    const user = await app.findSignedInUser(request)
    if (!user) return redirectToBankLogin(reply, request.url)
    const { before } = request.query
    if (before === undefined) return sendPlanPage(reply, user, 200)
    if (typeof before !== 'string' || !UUID_PATTERN.test(before)) return sendMissingPage(reply, 400)
    // Another user's contribution and one that never existed look the same, as in the JSON API.
    const olderPage = await plans.findContributionsBefore(user.id, before)
    if (!olderPage) return sendMissingPage(reply, 404)
    return sendPlanPage(reply, user, 200, {}, olderPage)
  })

  app.post(
    '/contributions',
    { preValidation: app.csrfProtection, schema: { ...PAGE, body: ContributionForm } },
    async (request, reply) => {
      const user = await app.findSignedInUser(request)
      // The token expired while the form was open: log in again and come back to the plan.
      if (!user) return redirectToBankLogin(reply, '/')
      const typed = request.body?.amount
      const keptAmount = typeof typed === 'string' ? { amount: typed.slice(0, 32) } : {}
      const parsed = parseContributionForm(request.body)
      if ('error' in parsed) return sendPlanPage(reply, user, 400, { error: parsed.error, ...keptAmount })
      const outcome = await plans.addContribution(user.id, parsed.amountCents)
      if (outcome.kind === 'throttled') {
        events.contributionThrottled()
        reply.header('retry-after', String(outcome.retryAfterSeconds))
        return sendPlanPage(reply, user, 429, {
          error:
            `You have made ${CONTRIBUTION_LIMIT.maxContributions} contributions in the last minute, the most we take. ` +
            `Nothing was saved; try again in ${outcome.retryAfterSeconds} seconds.`,
          ...keptAmount,
        })
      }
      events.contributionAdded()
      // Post/redirect/get: reloading the page afterwards does not contribute twice.
      return reply.redirect('/', 303)
    },
  )
}
