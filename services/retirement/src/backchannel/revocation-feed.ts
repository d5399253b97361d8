import { checkDatabaseUrl } from '@sso/shared/db'
import type { FastifyBaseLogger } from 'fastify'
import pg from 'pg'
import { REVOCATIONS_CHANNEL, type RevocationList } from './revocation-list.js'

export interface RevocationFeedOptions {
  databaseUrl: string
  revocations: RevocationList
  log: FastifyBaseLogger
  /** How often the list is brought up to date whatever NOTIFY says; tests shorten it. */
  pollIntervalMs?: number
  /** Shown in `pg_stat_activity` for the listening connection. */
  applicationName?: string
}

/** Well inside the 5 s a replica may lag (CONTRACT): four polls may fail in a row before `/readyz` takes it out. */
const defaultPollIntervalMs = 1_000
const connectTimeoutMs = 5_000
const firstReconnectDelayMs = 250
const maxReconnectDelayMs = 5_000

/**
 * Keeps one replica's revocation list current on PostgreSQL, from two sources:
 * - a dedicated connection (a `pg.Client` of its own, outside the query pool, since a pooled connection is handed
 *   to other queries and its LISTEN would be lost) in `LISTEN` on {@link REVOCATIONS_CHANNEL}: each revocation
 *   another replica commits arrives within milliseconds and is applied from the NOTIFY's payload, with no query.
 *   When the connection fails or ends it is opened again, after 0.25 s, then twice as long each time up to 5 s;
 *   each time it is listening again, a poll runs at once for what was announced while it was away;
 * - a poll every second ({@link RevocationList.refresh}): NOTIFY has no replay, and its success is what `/readyz`
 *   trusts (a quiet channel proves nothing).
 * The per-request check reads only the list's memory, never this connection or the database.
 */
export function startRevocationFeed({
  databaseUrl,
  revocations,
  log,
  pollIntervalMs = defaultPollIntervalMs,
  applicationName = 'retirement',
}: RevocationFeedOptions) {
  const { url } = checkDatabaseUrl(databaseUrl)
  let stopped = false
  let pollTimer: NodeJS.Timeout | undefined
  let reconnectTimer: NodeJS.Timeout | undefined
  let listener: pg.Client | undefined
  let reconnectDelayMs = firstReconnectDelayMs
  let pollFailing = false
  let listening = false
  let settleFirstAttempt = () => {}
  const firstAttempt = new Promise<void>((resolve) => {
    settleFirstAttempt = resolve
  })

  async function poll() {
    clearTimeout(pollTimer)
    try {
      await revocations.refresh()
      if (pollFailing) log.info('revocations: polling works again')
      pollFailing = false
    } catch (error) {
      // Once per outage, not once a second; /readyz says the rest.
      if (!pollFailing) log.warn({ err: error }, 'revocations: polling failed; /readyz answers 503 if it goes on')
      pollFailing = true
    } finally {
      if (!stopped) pollTimer = setTimeout(poll, pollIntervalMs).unref()
    }
  }

  function listen() {
    if (stopped) return
    const client = new pg.Client({
      connectionString: url,
      application_name: `${applicationName}-listen`,
      connectionTimeoutMillis: connectTimeoutMs,
      // A connection cut without a FIN (a NAT, a dead host) is noticed by TCP keep-alive instead of never.
      keepAlive: true,
    })
    listener = client
    let failed = false
    const fail = (error?: unknown) => {
      if (failed) return
      failed = true
      listening = false
      settleFirstAttempt()
      if (stopped) return
      log.warn(
        { err: error, retryInMs: reconnectDelayMs },
        'revocations: the LISTEN connection failed; polls keep the list current meanwhile',
      )
      client.end().catch(() => {})
      reconnectTimer = setTimeout(listen, reconnectDelayMs).unref()
      reconnectDelayMs = Math.min(reconnectDelayMs * 2, maxReconnectDelayMs)
    }
    client.on('error', fail)
    client.on('end', () => fail(new Error('connection ended')))
    client.on('notification', ({ channel, payload }) => {
      if (channel !== REVOCATIONS_CHANNEL || payload === undefined) return
      if (!revocations.applyAnnounced(payload)) log.warn('revocations: a NOTIFY payload that is no revocation, ignored')
    })
    client
      .connect()
      .then(() => client.query(`LISTEN ${REVOCATIONS_CHANNEL}`))
      .then(() => {
        if (failed || stopped) return
        listening = true
        settleFirstAttempt()
        reconnectDelayMs = firstReconnectDelayMs
        log.debug('revocations: listening')
        // What was announced while no connection listened is in the database: read it now, not at the next tick.
        void poll()
      })
      .catch(fail)
  }

  listen()
  pollTimer = setTimeout(poll, pollIntervalMs).unref()

  return {
    /**
     * Settles when the first connection listens, or has failed (it is then retried in the background): a replica
     * that awaits it before serving hears every NOTIFY from its first request on, when the database allows.
     */
    firstAttempt,
    /** Whether the LISTEN connection is up, for tests and logs. */
    get isListening() {
      return listening
    },
    async stop() {
      stopped = true
      clearTimeout(pollTimer)
      clearTimeout(reconnectTimer)
      await listener?.end().catch(() => {})
    },
  }
}
export type RevocationFeed = ReturnType<typeof startRevocationFeed>
