import { buildAppOrExit, describeConfigRisks, loadConfigOrExit } from '@sso/shared'
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { loadBankConfig } from './config.js'

// Long enough for in-flight requests to finish after SIGTERM/SIGINT, short enough for an orchestrator's stop timeout.
const shutdownGraceMs = 10_000

const config = loadConfigOrExit(() => loadBankConfig(process.env))
const app = await buildAppOrExit(() => buildApp(config))
for (const risk of describeConfigRisks(config)) app.log.warn(risk)

// Stop accepting, let in-flight requests finish, close the database (an onClose hook), then exit 0.
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
