import { loadConfigOrExit } from '@sso/shared'
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { loadRetirementConfig } from './config.js'

// Long enough for in-flight requests to finish, short enough for an orchestrator's stop timeout.
const shutdownGraceMs = 10_000

const config = loadConfigOrExit(() => loadRetirementConfig(process.env))
const app = await buildApp(config)

if (config.NODE_ENV === 'production' && !config.COOKIE_SECURE) {
  app.log.warn('COOKIE_SECURE=false in production: cookies travel without the Secure flag; use it only behind TLS')
}

// SIGTERM/SIGINT: stop accepting, let in-flight requests finish, close the database (onClose), exit 0.
closeWithGrace({ delay: shutdownGraceMs, logger: app.log }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'shutting down after an unexpected error')
  else app.log.info({ signal }, 'shutting down')
  await app.close()
})

try {
  await app.listen({ host: config.HOST, port: config.PORT })
} catch (error) {
  app.log.error({ err: error }, 'could not listen')
  await app.close()
  process.exit(1)
}
