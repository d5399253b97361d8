import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { replyWithoutInternals, TooManyAttemptsError } from '@sso/shared'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { type Static, Type } from 'typebox'
import type { AccountsRepository } from '../accounts/accounts-repository.js'
import { LOGINS_PER_ADDRESS, SIGN_UPS_PER_ADDRESS } from '../identity/address-limits.js'
import type { Authenticate } from '../identity/authenticate.js'
import { type Credentials, checkCredentials } from '../identity/credentials.js'
import type { Register } from '../identity/registration.js'
import type { LoginSessions } from '../sessions/login-sessions.js'
import { DEFAULT_RETURN_TO, resolveReturnTo } from './return-to.js'
import {
  type FormView,
  renderDashboard,
  renderExpiredFormPage,
  renderLoginPage,
  renderLogoutPage,
  renderRegisterPage,
} from './views.js'

export interface PagesOptions {
  authenticate: Authenticate
  register: Register
  loginSessions: LoginSessions
  accounts: AccountsRepository
  publicUrls: { bank: string; retirement: string }
}

// A repeated parameter arrives as an array; `resolveReturnTo` treats anything but one string as absent.
const ReturnToQuery = Type.Object({ return_to: Type.Optional(Type.Unknown()) })
// Loose on purpose: whatever the browser sent, the form comes back with a sentence, not a JSON error.
const CredentialsForm = Type.Object({
  username: Type.Optional(Type.Unknown()),
  password: Type.Optional(Type.Unknown()),
  return_to: Type.Optional(Type.Unknown()),
})
type CredentialsForm = Static<typeof CredentialsForm>
// The dashboard's "Sign out" (and "Sign out everywhere", everywhere=true) and one session's "Sign out" buttons. A form
// post always has a body (its CSRF token at least), but a script may send the token as a header and no body.
const LogoutForm = Type.Union([Type.Undefined(), Type.Object({ everywhere: Type.Optional(Type.Unknown()) })])
const EndSessionForm = Type.Union([Type.Undefined(), Type.Object({ session_id: Type.Optional(Type.Unknown()) })])
// Pages, forms and redirects are for browsers: not part of the JSON API's OpenAPI document (docs/spec.md has them).
const PAGE = { hide: true }

/** An expected failure of ours (bad credentials, taken name, rate limit, busy) that a form can show as it is. */
function asFormError(error: unknown): (FastifyError & { retryAfterSeconds?: number }) | undefined {
  const candidate = error as Partial<FastifyError>
  const isShowable = candidate.statusCode !== undefined && (candidate.statusCode < 500 || candidate.statusCode === 503)
  return candidate.code?.startsWith('SSO_') && isShowable ? (error as FastifyError) : undefined
}

function sendHtml(reply: FastifyReply, statusCode: number, page: string) {
  return reply.code(statusCode).type('text/html; charset=utf-8').send(page)
}

/** The server-rendered half of the bank: login, sign-up, the dashboard and logout. */
export const pagesRoutes: FastifyPluginAsyncTypebox<PagesOptions> = async (app, options) => {
  const { authenticate, register, loginSessions, accounts, publicUrls } = options

  // A form without a valid CSRF token gets a page, not JSON; everything else is handled as everywhere.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.code === 'FST_CSRF_INVALID_TOKEN' || error.code === 'FST_CSRF_MISSING_SECRET') {
      return sendHtml(reply, 403, renderExpiredFormPage())
    }
    // The per-address limit refuses a form post before its body is read: the form again with the sentence, as for
    // every other refusal of a form, not the JSON of the API.
    // A silent refresh (GET /login, GET /) over its budget gets the login form too, keeping where it was going.
    if (error instanceof TooManyAttemptsError) {
      const retryAfterSeconds = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds
      if (typeof retryAfterSeconds === 'number') reply.header('retry-after', String(retryAfterSeconds))
      const renderForm = request.routeOptions.url === '/register' ? renderRegisterPage : renderLoginPage
      const returnTo =
        request.method === 'GET'
          ? resolveReturnTo((request.query as { return_to?: unknown } | undefined)?.return_to, publicUrls)
          : DEFAULT_RETURN_TO
      return sendHtml(reply, 429, renderForm({ csrfToken: reply.generateCsrf(), returnTo, error: error.message }))
    }
    return replyWithoutInternals(error, request, reply)
  })

  /** The user of a valid access token, or else of a valid refresh cookie (rotated, both cookies renewed). */
  async function findOrResumeSession(request: FastifyRequest, reply: FastifyReply) {
    const signedIn = await app.findSignedInUser(request)
    if (signedIn) return { id: signedIn.id, username: signedIn.username, sessionId: signedIn.sessionId }
    // An expired access token must never show a login form while the login session lives.
    try {
      const resumed = await loginSessions.resume(request, reply)
      return resumed ? { ...resumed.user, sessionId: resumed.sessionId } : null
    } catch (error) {
      if (error instanceof TooManyAttemptsError) throw error // the form, with 429 and Retry-After
      // Whatever else went wrong, a cookie that cannot be refreshed must not break every page until it expires:
      // it goes, and the browser gets the form.
      request.log.warn({ err: error }, 'a silent refresh failed; the refresh cookie is cleared')
      reply.clearLoginCookies()
      return null
    }
  }

  /**
   * Runs the form's action on valid credentials; on failure shows the form again with the error and the username
   * as typed, with the status the JSON API would answer (400, 401, 409, 429 with Retry-After).
   */
  async function handleCredentialsForm(
    request: FastifyRequest,
    reply: FastifyReply,
    form: CredentialsForm,
    renderForm: (view: FormView) => string,
    signIn: (credentials: Credentials, request: FastifyRequest) => Promise<{ id: string; username: string }>,
  ) {
    const { username, password, return_to } = form
    const returnTo = resolveReturnTo(return_to, publicUrls)
    const typedUsername = typeof username === 'string' ? username : ''
    const showForm = (statusCode: number, error: string) =>
      sendHtml(
        reply,
        statusCode,
        renderForm({ csrfToken: reply.generateCsrf(), returnTo, username: typedUsername, error }),
      )

    const checked = checkCredentials(typedUsername, typeof password === 'string' ? password : '')
    if (checked.problem !== undefined) return showForm(400, checked.problem)
    let user: { id: string; username: string }
    try {
      user = await signIn(checked.credentials, request)
    } catch (error) {
      const formError = asFormError(error)
      if (!formError) throw error
      if (formError.retryAfterSeconds !== undefined) reply.header('retry-after', String(formError.retryAfterSeconds))
      return showForm(formError.statusCode ?? 400, formError.message)
    }
    await loginSessions.start(request, reply, user)
    return reply.redirect(returnTo, 303)
  }

  app.get('/', { schema: PAGE }, async (request, reply) => {
    const user = await findOrResumeSession(request, reply)
    if (!user) return reply.redirect('/login', 303)
    const page = renderDashboard({
      username: user.username,
      accounts: await accounts.listForUser(user.id),
      retirementUrl: publicUrls.retirement,
      csrfToken: reply.generateCsrf(),
      sessions: await loginSessions.listLive(user.id),
      currentSessionId: user.sessionId,
    })
    return sendHtml(reply, 200, page)
  })

  app.get('/login', { schema: { ...PAGE, querystring: ReturnToQuery } }, async (request, reply) => {
    const returnTo = resolveReturnTo(request.query.return_to, publicUrls)
    // Single sign-on: a browser that is still signed in goes straight back to where it came from.
    if (await findOrResumeSession(request, reply)) return reply.redirect(returnTo, 303)
    return sendHtml(reply, 200, renderLoginPage({ csrfToken: reply.generateCsrf(), returnTo }))
  })

  app.post(
    '/login',
    {
      config: { rateLimit: LOGINS_PER_ADDRESS },
      preValidation: app.csrfProtection,
      schema: { ...PAGE, body: CredentialsForm },
    },
    (request, reply) => handleCredentialsForm(request, reply, request.body, renderLoginPage, authenticate),
  )

  app.get('/register', { schema: { ...PAGE, querystring: ReturnToQuery } }, async (request, reply) => {
    const returnTo = resolveReturnTo(request.query.return_to, publicUrls)
    return sendHtml(reply, 200, renderRegisterPage({ csrfToken: reply.generateCsrf(), returnTo }))
  })

  app.post(
    '/register',
    {
      config: { rateLimit: SIGN_UPS_PER_ADDRESS },
      preValidation: app.csrfProtection,
      schema: { ...PAGE, body: CredentialsForm },
    },
    (request, reply) => handleCredentialsForm(request, reply, request.body, renderRegisterPage, register),
  )

  // The retirement app's "Sign out" link lands here. Only a confirm form: the session is neither ended nor rotated
  // (a refresh cookie alone is enough to show it; the POST revokes by it).
  app.get('/logout', { schema: { ...PAGE, querystring: ReturnToQuery } }, async (request, reply) => {
    const signedIn = await app.findSignedInUser(request)
    if (!signedIn && !request.readRefreshTokenCookie()) return reply.redirect('/login', 303)
    const page = renderLogoutPage({
      username: signedIn?.username,
      csrfToken: reply.generateCsrf(),
      returnTo: resolveReturnTo(request.query.return_to, publicUrls),
    })
    return sendHtml(reply, 200, page)
  })

  app.post(
    '/logout',
    { preValidation: app.csrfProtection, schema: { ...PAGE, body: LogoutForm } },
    async (request, reply) => {
      // The dashboard's "Sign out everywhere" button sends everywhere=true.
      const everywhere = request.body?.everywhere === 'true'
      await loginSessions.end(request, reply, { everywhere })
      return reply.redirect('/login', 303)
    },
  )

  // One session's "Sign out" button in the dashboard's list (a form cannot send DELETE /api/sessions/:id).
  app.post(
    '/sessions/end',
    { preValidation: app.csrfProtection, schema: { ...PAGE, body: EndSessionForm } },
    async (request, reply) => {
      const sessionId = request.body?.session_id
      const user = await findOrResumeSession(request, reply)
      if (!user) return reply.redirect('/login', 303)
      if (sessionId === user.sessionId) {
        // Ending the session this browser uses is signing out here.
        await loginSessions.end(request, reply)
        return reply.redirect('/login', 303)
      }
      // Unknown, ended or someone else's: nothing happens, and the list shows what is still live.
      if (typeof sessionId === 'string') await loginSessions.endOne(request, sessionId, user.id)
      return reply.redirect('/', 303)
    },
  )
}
