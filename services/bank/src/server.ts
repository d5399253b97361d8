import { loadConfigOrExit } from '@sso/shared'
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { loadBankConfig } from './config.js'

// In-flight requests get this long to finish after SIGTERM/SIGINT before the process exits anyway.
const shutdownGraceMs = 10_000

const config = loadConfigOrExit(() => loadBankConfig(process.env))
const app = await buildApp(config)
if (config.NODE_ENV === 'production' && !config.COOKIE_SECURE) {
  app.log.warn('COOKIE_SECURE=false in production: cookies will travel over plain http; run only behind TLS')
}

// Stop accepting, let in-flight requests finish, close the database (an onClose hook), then exit 0.
closeWithGrace({ delay: shutdownGraceMs, logger: app.log }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'shutting down after an unexpected error')
  else app.log.info({ signal }, 'shutting down')
  await app.close()
})
await app.listen({ host: config.HOST, port: config.PORT })
