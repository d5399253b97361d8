import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { type CommonConfig, describeConfigRisks } from './config.js'

// Long enough for in-flight requests to finish after SIGTERM/SIGINT, short enough for an orchestrator's stop timeout.
const shutdownGraceMs = 10_000

/**
 * Listens on HOST:PORT (and MANAGEMENT_PORT, for /metrics, when set) until SIGTERM/SIGINT, then stops accepting, lets in-flight requests finish, runs the app's
 * onClose hooks (the database closes there) and exits 0. A port that cannot be bound exits 1 with one log line.
 */
export async function serveUntilStopped(app: FastifyInstance, config: CommonConfig): Promise<void> {
  for (const risk of describeConfigRisks(config)) app.log.warn(risk)

  closeWithGrace({ delay: shutdownGraceMs, logger: app.log }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an unexpected error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
  })

  try {
    // Metrics first: once /healthz answers, a scrape of this replica succeeds too.
    if (config.MANAGEMENT_PORT !== undefined) {
      const management = await app.metrics.listen({ host: config.HOST, port: config.MANAGEMENT_PORT })
      app.log.info({ port: management.port }, 'metrics served on the management port')
    }
    await app.listen({ host: config.HOST, port: config.PORT })
  } catch (error) {
    app.log.error({ err: error }, 'could not listen')
    await app.close()
    process.exit(1)
  }
}
