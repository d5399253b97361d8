import { availableParallelism } from 'node:os'
import fastifyRateLimit from '@fastify/rate-limit'
import {
  addHealthCheck,
  addReadinessCheck,
  apiDocs,
  clientAddressKey,
  createServiceApp,
  observability,
  signLogoutToken,
  ssoAuth,
  TooManyAttemptsError,
  webSecurity,
  withRetryAfter,
} from '@sso/shared'
import { databaseAnswers, openConfiguredDatabase } from '@sso/shared/db'
import { createAccountsRepository } from './accounts/accounts-repository.js'
import { accountsRoutes } from './accounts/accounts-routes.js'
import { createLogoutDelivery, type PostLogoutToken } from './backchannel/logout-delivery.js'
import { createLogoutOutbox } from './backchannel/logout-outbox.js'
import type { BankConfig } from './config.js'
import type { BankDatabase } from './db/bank-database.js'
import { bankLegacyVersions, bankMigrations } from './db/migrations/index.js'
import { createDatabaseRateLimitStore, LOGINS_PER_ADDRESS, SIGN_UPS_PER_ADDRESS } from './identity/address-limits.js'
import { createAuthenticator } from './identity/authenticate.js'
import { loginRoutes } from './identity/login-routes.js'
import { createLoginThrottle } from './identity/login-throttle.js'
import { meRoutes } from './identity/me-routes.js'
import { createPasswordHasher } from './identity/password.js'
import { registerRoutes } from './identity/register-routes.js'
import { createRegistration } from './identity/registration.js'
import { createUsersRepository } from './identity/users-repository.js'
import { createWorkLimiter } from './identity/work-limiter.js'
import { jwksRoutes } from './keys/jwks-routes.js'
import { createBankKeys, refreshTokenSecrets } from './keys/signing-keys.js'
import { pagesRoutes } from './pages/pages-routes.js'
import { createBankSecurityEvents } from './security-events.js'
import { createLoginSessions } from './sessions/login-sessions.js'
import { logoutRoutes } from './sessions/logout-routes.js'
import { createRefreshBudget } from './sessions/refresh-limits.js'
import { refreshRoutes } from './sessions/refresh-routes.js'
import { createRefreshTokens } from './sessions/refresh-token.js'
import { createSessionsRepository } from './sessions/sessions-repository.js'
import { sessionsRoutes } from './sessions/sessions-routes.js'

// The contract's login limit: at most 10 consecutive failures per username within 15 minutes.
const LOGIN_FAILURE_LIMITS = { maxFailures: 10, windowMs: 15 * 60_000 }
// argon2 runs on libuv's thread pool; more hashes at once than cores only adds memory and latency. Beyond the
// queue (about a second of work), sign-ins get a quick 503 with Retry-After instead of a slow timeout.
const PASSWORD_WORK_CONCURRENCY = availableParallelism()
const PASSWORD_WORK_MAX_QUEUED = PASSWORD_WORK_CONCURRENCY * 32
// Ended sessions' rows are deleted (once their last access token has expired) this often, and grace windows'
// sealed successors, passed rate-limit windows and expired login counts forgotten.
const ENDED_SESSIONS_PRUNE_INTERVAL_MS = 60 * 60_000

const BANK_API_DESCRIPTION =
  'The JSON API of the bank: sign-up, login, refresh and logout, the login sessions and the accounts of the signed-in ' +
  'user. Success is `{"status":"ok","data":…}`, failure `{"status":"error","error":…,"code":…}`; clients branch on ' +
  '`code`. A cookie-authenticated write must come from one of the two applications (same `Origin`).'

/** What tests may replace: how logout notices travel (unit tests open no sockets). */
export interface BankDependencies {
  postLogoutToken?: PostLogoutToken
}

/** The bank: users, passwords, login sessions and accounts. Registers everything in boot order; never listens. */
export async function buildApp(config: BankConfig, dependencies: BankDependencies = {}) {
  const app = createServiceApp(config)
  await app.register(observability, { serviceName: 'bank' })
  await app.register(apiDocs, { title: 'bank-sso: bank', description: BANK_API_DESCRIPTION })

  const database = await openConfiguredDatabase<BankDatabase>(config, {
    migrations: bankMigrations,
    legacyVersions: bankLegacyVersions,
    applicationName: 'bank',
    onIdleConnectionError: (error) => app.log.warn({ err: error }, 'an idle database connection failed'),
  })
  const { db } = database
  // Single logout: every revocation queues a notice per back-channel URL, in its own transaction.
  const logoutOutbox = createLogoutOutbox(database, {
    urls: config.BACKCHANNEL_LOGOUT_URLS,
    accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL,
  })
  const sessions = createSessionsRepository(db, {
    refreshTokenTtlSeconds: config.REFRESH_TOKEN_TTL,
    accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL,
    reuseGraceSeconds: config.REFRESH_REUSE_GRACE,
    tokens: createRefreshTokens(refreshTokenSecrets(config)),
    outbox: logoutOutbox,
  })

  const { keyring, publicJwks } = createBankKeys(config)
  const cookies = { secure: config.COOKIE_SECURE, domain: config.COOKIE_DOMAIN }
  await app.register(ssoAuth, {
    keyring,
    audience: 'bank',
    cookies,
    issuing: { accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL },
    // The bank refuses a revoked session's tokens at once, from its own table, and those of a session it does not know.
    // Read through on every request, so a revocation through any replica holds on all of them at once (measured
    // against a LISTEN/NOTIFY-kept view: see refusesAccessTokensOf).
    isRevoked: (user) => sessions.refusesAccessTokensOf(user.sessionId, user.id),
  })
  await app.register(webSecurity, {
    serviceName: 'bank',
    publicUrls: [config.BANK_PUBLIC_URL, config.RETIREMENT_PUBLIC_URL],
    cookies,
  })
  // Only the routes that name a limit (login, sign-up) are limited, and refresh (refresh-limits.ts).
  // Counted in the database, so every replica spends the same budget.
  const rateLimits = createDatabaseRateLimitStore(database)
  const passwordWork = createWorkLimiter({
    concurrency: PASSWORD_WORK_CONCURRENCY,
    maxQueued: PASSWORD_WORK_MAX_QUEUED,
  })
  const events = createBankSecurityEvents({
    metrics: app.metrics,
    readOutboxBacklog: logoutOutbox.readBacklog,
    passwordWork: () => passwordWork.load,
    passwordWorkMaxQueued: PASSWORD_WORK_MAX_QUEUED,
    log: app.log,
  })
  await app.register(fastifyRateLimit, {
    global: false,
    store: rateLimits.Store,
    // The same client-address key as the refresh budget (IPv6 by /64, mapped IPv4 unmapped, a non-IP
    // X-Forwarded-For read as the socket's address), so no budget can be dodged where another holds.
    keyGenerator: clientAddressKey,
    // The per-address budgets of the routes that name one (login, sign-up; the JSON API and the forms alike).
    onExceeded: (request) => {
      const groupId = (request.routeOptions.config as { rateLimit?: { groupId?: string } }).rateLimit?.groupId
      if (groupId === LOGINS_PER_ADDRESS.groupId) events.loginThrottled(request, 'address')
      else if (groupId === SIGN_UPS_PER_ADDRESS.groupId) events.registrationRefused('throttled')
    },
    errorResponseBuilder: (_request, { ttl }) =>
      withRetryAfter(new TooManyAttemptsError(String(Math.ceil(ttl / 1000))), ttl / 1000),
  })

  const users = createUsersRepository(db)
  const accounts = createAccountsRepository(db)
  const passwords = createPasswordHasher(passwordWork)
  const throttle = createLoginThrottle(database, LOGIN_FAILURE_LIMITS)
  const authenticate = createAuthenticator({ users, passwords, throttle, events })
  const register = createRegistration({ db, users, accounts, passwords, events })
  const loginSessions = createLoginSessions({
    sessions,
    users,
    spendRefreshBudget: createRefreshBudget(app, { findIssuedSession: sessions.findIssuedSession }),
    events,
  })
  const pruneTimer = setInterval(() => {
    sessions.deleteEnded().catch((error: unknown) => app.log.error({ err: error }, 'deleting ended sessions failed'))
    rateLimits.deletePassed().catch((error: unknown) => app.log.error({ err: error }, 'deleting rate limits failed'))
    throttle.deleteExpired().catch((error: unknown) => app.log.error({ err: error }, 'deleting login counts failed'))
  }, ENDED_SESSIONS_PRUNE_INTERVAL_MS).unref()
  const logoutDelivery = createLogoutDelivery({
    outbox: logoutOutbox,
    signLogoutToken: (subject) => signLogoutToken(app.jwt, keyring, subject),
    log: app.log.child({ component: 'logout-delivery' }),
    events,
    ...(dependencies.postLogoutToken ? { post: dependencies.postLogoutToken } : {}),
  })
  logoutDelivery.start()
  app.addHook('onClose', async () => {
    clearInterval(pruneTimer)
    await logoutDelivery.stop()
    await db.destroy()
  })

  addHealthCheck(app)
  // The bank keeps no shared state in memory: a replica is ready when its database answers.
  addReadinessCheck(app, [databaseAnswers(db)])
  await app.register(jwksRoutes, { publicJwks })
  await app.register(registerRoutes, { register })
  await app.register(loginRoutes, { authenticate, loginSessions })
  await app.register(refreshRoutes, { loginSessions })
  await app.register(logoutRoutes, { loginSessions })
  await app.register(async function signedIn(scope) {
    scope.addHook('onRequest', scope.requireSession) // every route below needs a valid access token
    await scope.register(meRoutes)
    await scope.register(sessionsRoutes, { loginSessions })
    await scope.register(accountsRoutes, { accounts })
  })
  await app.register(pagesRoutes, {
    authenticate,
    register,
    loginSessions,
    accounts,
    publicUrls: { bank: config.BANK_PUBLIC_URL, retirement: config.RETIREMENT_PUBLIC_URL },
  })
  return app
}
export type App = Awaited<ReturnType<typeof buildApp>>
