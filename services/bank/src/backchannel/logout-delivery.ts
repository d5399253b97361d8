import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { LogoutSubject } from '@sso/shared'
import type { FastifyBaseLogger } from 'fastify'
import type { BankSecurityEvents } from '../security-events.js'
import type { ClaimedNotice, LogoutOutbox } from './logout-outbox.js'

/** Posts one logout token to one back-channel URL; resolves with the HTTP status, rejects on a network failure. */
export type PostLogoutToken = (url: string, logoutToken: string, signal: AbortSignal) => Promise<number>

/** OpenID Connect Back-Channel Logout 1.0 §2.5: a form-encoded POST with the single field `logout_token`. */
export const postLogoutToken: PostLogoutToken = async (url, logoutToken, signal) => {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: logoutToken }).toString(),
    // A redirect is not an answer: the notice is retried rather than sent somewhere else.
    redirect: 'manual',
    signal,
  })
  await response.body?.cancel()
  return response.status
}

export interface LogoutDeliveryOptions {
  outbox: LogoutOutbox
  /** Signs a fresh logout token (new `jti`, `iat` and `exp`) for each attempt. */
  signLogoutToken: (subject: LogoutSubject) => string
  post?: PostLogoutToken
  log: FastifyBaseLogger
  /** Where deliveries, failed attempts and given-up notices are recorded (audit lines, metrics); none by default. */
  events?: Pick<BankSecurityEvents, 'noticeDelivered' | 'noticeFailed' | 'noticeGivenUp'>
  tickMs?: number
  requestTimeoutMs?: number
  /** How long a claimed notice is this worker's alone; must exceed `requestTimeoutMs`. */
  leaseMs?: number
  /** This worker's name in `claimed_by`; by default the host, the process id and a random suffix. */
  claimant?: string
}

/** How often due notices are looked for; a revocation also wakes the worker at once. */
export const DELIVERY_TICK_MS = 1_000
/** A receiver that does not answer within this is treated as down for this attempt. */
export const DELIVERY_TIMEOUT_MS = 3_000
/**
 * How long a claimed notice is its worker's alone. An attempt ends within DELIVERY_TIMEOUT_MS and its outcome is one
 * short statement, so a live worker does not outlast its lease (which would let a second worker post the same notice:
 * harmless, as retirement applies a notice idempotently, but avoidable). Short, because a replica that dies
 * mid-delivery delays its claimed notices by this much plus a tick before another replica posts them.
 */
export const DELIVERY_LEASE_MS = 5_000
// Retry delays double from half a second up to a cap, so a receiver that comes back hears of every pending
// logout within cap + tick + timeout (under 10 s; docs/spec.md#single-logout allows 15).
const FIRST_RETRY_DELAY_MS = 500
/** The longest wait between two attempts of one notice. */
export const MAX_RETRY_DELAY_MS = 5_000
const BATCH_SIZE = 50

/** The delay before attempt `attempts + 1`, after `attempts` failures. */
export function retryDelayMs(attempts: number): number {
  return Math.min(MAX_RETRY_DELAY_MS, FIRST_RETRY_DELAY_MS * 2 ** Math.max(0, attempts - 1))
}

/**
 * The single-logout delivery worker: claims due notices from the outbox (a lease, so that of several bank replicas
 * one posts each notice, and another takes it over if this one dies), posts each with a freshly signed logout token,
 * deletes it only on a 2xx answer, backs off on anything else, and gives up on a notice once every access token it
 * concerns has expired anyway. No transaction is open while it waits for the network. Delivered at least once: a
 * notice is deleted only after a 2xx, so a crash between the two means one more post, never a lost notice.
 * One run at a time: a tick or wake-up during a run asks for one more run after it.
 */
export function createLogoutDelivery(options: LogoutDeliveryOptions) {
  const { outbox, signLogoutToken, log, events } = options
  const post = options.post ?? postLogoutToken
  const tickMs = options.tickMs ?? DELIVERY_TICK_MS
  const requestTimeoutMs = options.requestTimeoutMs ?? DELIVERY_TIMEOUT_MS
  const leaseMs = options.leaseMs ?? DELIVERY_LEASE_MS
  const claimant = options.claimant ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  if (leaseMs <= requestTimeoutMs) throw new Error('logout delivery: the lease must outlast an attempt')
  const stopping = new AbortController()
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let runAgain = false

  async function deliver(notice: ClaimedNotice): Promise<void> {
    const subject: LogoutSubject =
      notice.sessionId === null ? { sub: notice.userId } : { sid: notice.sessionId, sub: notice.userId }
    let outcome: string
    try {
      const status = await post(
        notice.url,
        signLogoutToken(subject),
        AbortSignal.any([stopping.signal, AbortSignal.timeout(requestTimeoutMs)]),
      )
      if (status >= 200 && status < 300) {
        // Deleted whoever holds it by now (our lease cannot have run out, see DELIVERY_LEASE_MS, but if it had, the
        // new holder's own attempt would be the one duplicate).
        await outbox.remove(notice.id)
        const delivered = { url: notice.url, sub: notice.userId, sid: notice.sessionId ?? undefined }
        if (events) events.noticeDelivered(log, { ...delivered, attempts: notice.attempts + 1 })
        else log.info({ ...delivered, attempts: notice.attempts + 1 }, 'logout delivered')
        return
      }
      outcome = `HTTP ${status}`
    } catch (error) {
      // Shutting down: the notice goes back untried, so another replica (or the next start) posts it at once.
      if (stopping.signal.aborted) {
        await outbox
          .release(notice)
          .catch((releaseError: unknown) => log.warn({ err: releaseError }, 'logout notice left to its lease'))
        return
      }
      outcome = (error as Error).message
    }
    const attempts = notice.attempts + 1
    const nextAttemptAt = Date.now() + retryDelayMs(attempts)
    events?.noticeFailed()
    // One warning per notice, at its first failure; the retries go to debug, and the give-up (or the delivery) is its
    // own line. A receiver down for a minute with 60 notices pending made 780 warnings a minute when each retry logged.
    const failure = { url: notice.url, sessionId: notice.sessionId, attempts, outcome }
    if (attempts === 1) log.warn(failure, 'logout notice not delivered yet')
    else log.debug(failure, 'logout notice not delivered yet')
    await outbox.scheduleRetry(notice, attempts, nextAttemptAt)
  }

  /** One pass over the due notices; resolves when every attempt it started has ended. */
  async function deliverDue(): Promise<void> {
    const now = Date.now()
    const due = await outbox.claimDue({ now, limit: BATCH_SIZE, leaseMs, claimant })
    const live: ClaimedNotice[] = []
    for (const notice of due) {
      if (now < notice.giveUpAt) {
        live.push(notice)
        continue
      }
      // Every access token of the session has expired by now: the receiver refuses them without being told.
      await outbox.remove(notice.id)
      const givenUp = { url: notice.url, sub: notice.userId, sid: notice.sessionId ?? undefined }
      if (events) events.noticeGivenUp(log, { ...givenUp, attempts: notice.attempts })
      else log.warn({ ...givenUp, attempts: notice.attempts }, 'logout notice given up')
    }
    await Promise.all(live.map(deliver))
    if (due.length === BATCH_SIZE) runAgain = true
  }

  function run(): Promise<void> {
    if (stopping.signal.aborted) return Promise.resolve()
    if (running) {
      runAgain = true
      return running
    }
    running = (async () => {
      try {
        do {
          runAgain = false
          await deliverDue()
        } while (runAgain && !stopping.signal.aborted)
      } catch (error) {
        log.error({ err: error }, 'logout delivery failed')
      } finally {
        running = undefined
      }
    })()
    return running
  }

  return {
    /** Starts the tick; the timer never keeps the process alive on its own. */
    start() {
      timer ??= setInterval(run, tickMs).unref()
      outbox.onEnqueued(() => void run())
    },
    /** Delivers what is due now (or joins the run in progress); for the revocation path and tests. */
    run,
    /** Stops the tick, abandons attempts in flight (their notices go back to the outbox) and waits for the run. */
    async stop() {
      clearInterval(timer)
      stopping.abort()
      await running
    },
  }
}
export type LogoutDelivery = ReturnType<typeof createLogoutDelivery>
