import {
  addHealthCheck,
  addReadinessCheck,
  apiDocs,
  createJwksClient,
  createKeyring,
  createServiceApp,
  observability,
  secretVerificationKeys,
  ssoAuth,
  webSecurity,
} from '@sso/shared'
import { databaseAnswers, openConfiguredDatabase } from '@sso/shared/db'
import { backchannelRoutes } from './backchannel/backchannel-routes.js'
import { startRevocationFeed } from './backchannel/revocation-feed.js'
import { createRevocationList } from './backchannel/revocation-list.js'
import { defaultJwksUrl, type RetirementConfig } from './config.js'
import { retirementLegacyVersions, retirementMigrations } from './db/migrations/index.js'
import type { RetirementDatabase } from './db/retirement-database.js'
import { meRoutes } from './identity/me-routes.js'
import { pagesRoutes } from './pages/pages-routes.js'
import { createPlansRepository } from './plans/plans-repository.js'
import { plansRoutes } from './plans/plans-routes.js'
import { createRetirementSecurityEvents } from './security-events.js'

// Revocations past their usefulness are forgotten this often (memory and database).
const revocationsPruneIntervalMs = 10 * 60_000

const RETIREMENT_API_DESCRIPTION =
  "The JSON API of the retirement service: the signed-in user's plan and contributions, with the access token the " +
  'bank issued (this service never issues one), and the back-channel logout the bank sends. Success is ' +
  '`{"status":"ok","data":…}`, failure `{"status":"error","error":…,"code":…}`; clients branch on `code`.'

/** Timings tests shorten; a deployment uses the defaults. */
export interface RetirementAppOptions {
  /** PostgreSQL: how often the revocation list is polled (default 1 s). */
  revocationsPollIntervalMs?: number
  /** How long the list may go without a successful poll before /readyz answers 503 (default 5 s). */
  maxRevocationsStalenessMs?: number
  /** A key-pair mode: how often an unknown kid may make this service fetch the bank's keys again (default 30 s). */
  unknownKidRefetchIntervalMs?: number
}

export async function buildApp(config: RetirementConfig, options: RetirementAppOptions = {}) {
  const app = createServiceApp(config)
  await app.register(observability, { serviceName: 'retirement' })
  await app.register(apiDocs, { title: 'bank-sso: retirement', description: RETIREMENT_API_DESCRIPTION })

  const { db, engine } = await openConfiguredDatabase<RetirementDatabase>(config, {
    migrations: retirementMigrations,
    legacyVersions: retirementLegacyVersions,
    applicationName: 'retirement',
    onIdleConnectionError: (error) => app.log.warn({ err: error }, 'an idle database connection failed'),
  })
  // Single logout: the bank's notices, loaded before serving; each request checks them in memory, never asking the
  // bank. On PostgreSQL other replicas' notices reach this one by NOTIFY and by a poll each second (the feed).
  const revocations = createRevocationList(db, {
    maxAccessTokenTtlSeconds: config.MAX_ACCESS_TOKEN_TTL,
    engine,
    ...(options.maxRevocationsStalenessMs === undefined ? {} : { maxStalenessMs: options.maxRevocationsStalenessMs }),
  })
  await revocations.load()
  const feed =
    config.DATABASE_URL === undefined
      ? undefined
      : startRevocationFeed({
          databaseUrl: config.DATABASE_URL,
          revocations,
          log: app.log,
          ...(options.revocationsPollIntervalMs === undefined
            ? {}
            : { pollIntervalMs: options.revocationsPollIntervalMs }),
        })
  await feed?.firstAttempt
  const pruneTimer = setInterval(() => {
    revocations.prune().catch((error: unknown) => app.log.error({ err: error }, 'pruning revocations failed'))
  }, revocationsPruneIntervalMs).unref()
  app.addHook('onClose', async () => {
    clearInterval(pruneTimer)
    await feed?.stop()
    await db.destroy()
  })

  // HS256: the shared secret. A key pair: the bank's published public keys, fetched (never per token); this
  // service then holds nothing that can sign.
  const jwks =
    config.JWT_SECRET === undefined
      ? createJwksClient({
          url: config.BANK_JWKS_URL ?? defaultJwksUrl(config.BANK_PUBLIC_URL),
          previousSecretKeys: secretVerificationKeys(config.JWT_PREVIOUS_SECRETS),
          log: app.log.child({ component: 'jwks' }),
          registry: app.metrics.registry,
          ...(options.unknownKidRefetchIntervalMs === undefined
            ? {}
            : { unknownKidRefetchIntervalMs: options.unknownKidRefetchIntervalMs }),
        })
      : undefined
  jwks?.start()
  app.addHook('onClose', async () => jwks?.stop())
  const keyring = jwks?.keyring ?? createKeyring(config.JWT_SECRET as string, config.JWT_PREVIOUS_SECRETS)
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

  addHealthCheck(app)
  // Ready when the database answers and the revocation list is current: a replica that cannot hear of logouts must
  // not be sent requests, or it would accept tokens its siblings refuse.
  addReadinessCheck(app, [
    databaseAnswers(db),
    { name: 'the revocation list', check: () => revocations.notCurrentReason() },
    ...(jwks ? [{ name: "the bank's keys", check: () => jwks.notReadyReason() }] : []),
  ])

  const events = createRetirementSecurityEvents(app.metrics)
  // Server to server, authenticated by the logout token itself: outside the signed-in scope and the CSRF rules.
  await app.register(backchannelRoutes, { keyring, revocations, events })

  const plans = createPlansRepository({ db, engine })
  await app.register(pagesRoutes, {
    plans,
    events,
    bankPublicUrl: config.BANK_PUBLIC_URL,
    retirementPublicUrl: config.RETIREMENT_PUBLIC_URL,
  })
  await app.register(async function signedIn(scope) {
    scope.addHook('onRequest', scope.requireSession) // every route below needs a valid access token
    await scope.register(meRoutes)
    await scope.register(plansRoutes, { plans, events })
  })
  return app
}
export type App = Awaited<ReturnType<typeof buildApp>>
