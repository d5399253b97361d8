import { fileURLToPath } from 'node:url'
import { type TypeBoxTypeProvider, TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import {
  createKeyring,
  HealthResponse,
  openDatabase,
  replyNotFound,
  replyWithoutInternals,
  ssoAuth,
  webSecurity,
} from '@sso/shared'
import Fastify from 'fastify'
import { backchannelRoutes } from './backchannel/backchannel-routes.js'
import { createRevocationList } from './backchannel/revocation-list.js'
import type { RetirementConfig } from './config.js'
import { pagesRoutes } from './pages/pages-routes.js'
import { createPlansRepository } from './plans/plans-repository.js'
import { plansRoutes } from './plans/plans-routes.js'

// Read at run time, next to dist/ (the container image copies the folder to the same place).
const migrationsDir = fileURLToPath(new URL('../migrations', import.meta.url))
const bodyLimitBytes = 16 * 1024
// Revocations past their usefulness are forgotten this often (memory and database).
const revocationsPruneIntervalMs = 10 * 60_000

export async function buildApp(config: RetirementConfig) {
  const app = Fastify({
    logger: {
      level: config.LOG_LEVEL,
      // Tokens travel in these headers; a log line must never be enough to act as the user.
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
        censor: '[redacted]',
      },
    },
    // Without named proxies, X-Forwarded-For is ignored and the socket's address is the client's.
    trustProxy: config.TRUST_PROXY.length > 0 ? config.TRUST_PROXY : false,
    bodyLimit: bodyLimitBytes,
    // Refusals before routing (a malformed URL) get the contract's error shape too, without the URL echoed.
    frameworkErrors: replyWithoutInternals,
  }).withTypeProvider<TypeBoxTypeProvider>()
  // TypeBox's own checker, as in the bank: "100" is not a number of cents, and an unknown field is a 400, not ignored.
  app.setValidatorCompiler(TypeBoxValidatorCompiler)

  const db = openDatabase(config.DATABASE_PATH, migrationsDir)
  // Single logout: the bank's notices, loaded once; each request checks them in memory, never asking the bank.
  const revocations = createRevocationList(db, { maxAccessTokenTtlSeconds: config.MAX_ACCESS_TOKEN_TTL })
  revocations.load()
  const pruneTimer = setInterval(() => revocations.prune(), revocationsPruneIntervalMs).unref()
  app.addHook('onClose', async () => {
    clearInterval(pruneTimer)
    db.close()
  })
  app.setErrorHandler(replyWithoutInternals)
  app.setNotFoundHandler(replyNotFound)

  const keyring = createKeyring(config.JWT_SECRET, config.JWT_PREVIOUS_SECRETS)
  const cookies = { secure: config.COOKIE_SECURE, domain: config.COOKIE_DOMAIN }
  // Verification only: this service never issues an access token, so it can only trust the bank's.
  await app.register(ssoAuth, {
    keyring,
    audience: 'retirement',
    cookies,
    isRevoked: (user) => revocations.isRevoked(user),
  })
  await app.register(webSecurity, {
    serviceName: 'retirement',
    publicUrls: [config.BANK_PUBLIC_URL, config.RETIREMENT_PUBLIC_URL],
    cookies,
  })

  const checkDatabase = db.prepare('SELECT 1')
  app.get('/healthz', { schema: { response: { 200: HealthResponse } } }, async () => {
    checkDatabase.get() // throws (500) if the database is gone
    return { status: 'ok' } as const
  })

  // Server to server, authenticated by the logout token itself: outside the signed-in scope and the CSRF rules.
  await app.register(backchannelRoutes, { keyring, revocations })

  const plans = createPlansRepository(db)
  await app.register(pagesRoutes, {
    plans,
    bankPublicUrl: config.BANK_PUBLIC_URL,
    retirementPublicUrl: config.RETIREMENT_PUBLIC_URL,
  })
  await app.register(async function signedIn(scope) {
    scope.addHook('onRequest', scope.requireSession) // every route below needs a valid access token
    await scope.register(plansRoutes, { plans })
  })
  return app
}
export type App = Awaited<ReturnType<typeof buildApp>>
