// Logout notices delivered by two bank replicas sharing one outbox on PostgreSQL, to a real receiver on 127.0.0.1 that
// misbehaves as networks do: answers 503, resets the connection, or never answers. Each "replica" is a delivery worker
// with its own connection pool, as a bank process has. Every notice gets through, none twice while no worker dies,
// and a worker that dies mid-delivery loses nothing: another one posts its notices once the lease has run out.
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createKeyring, signLogoutToken, ssoAuth, verifyLogoutToken } from '@sso/shared'
import { type OpenedDatabase, openDatabase } from '@sso/shared/db'
import Fastify, { type FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import { afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest'
import {
  createLogoutDelivery,
  type LogoutDelivery,
  type PostLogoutToken,
  postLogoutToken,
} from '../../services/bank/src/backchannel/logout-delivery.js'
import { createLogoutOutbox, type LogoutOutbox } from '../../services/bank/src/backchannel/logout-outbox.js'
import type { BankDatabase } from '../../services/bank/src/db/bank-database.js'
import { bankMigrations } from '../../services/bank/src/db/migrations/index.js'
import { createTestDatabase } from '../support/test-databases.js'

const SECRET = 'logout delivery replicas test: 48 bytes, not used!'
const keyring = createKeyring(SECRET)

/** What the receiver does with the first attempt at a session's notice; later attempts are answered 204. */
type FirstAnswer = 'ok' | 'unavailable' | 'reset' | 'hang'
const firstAnswers: FirstAnswer[] = ['ok', 'unavailable', 'reset', 'hang']

/** A back-channel endpoint on 127.0.0.1 that verifies every logout token and answers as `firstAnswer` says. */
async function startFlakyReceiver(jwtOwner: FastifyInstance, firstAnswer: (sessionId: string) => FirstAnswer) {
  const attempts = new Map<string, number>()
  const accepted = new Map<string, number>()
  const jtis: string[] = []
  const hanging = new Set<ServerResponse>()
  let hangEverything = false
  const server: Server = createServer(async (request: IncomingMessage, response: ServerResponse) => {
    let body = ''
    for await (const chunk of request) body += chunk
    const notice = verifyLogoutToken(
      jwtOwner.jwt,
      keyring,
      'retirement',
      new URLSearchParams(body).get('logout_token') ?? '',
    )
    const sessionId = notice.sessionId ?? ''
    jtis.push(notice.tokenId)
    const attempt = (attempts.get(sessionId) ?? 0) + 1
    attempts.set(sessionId, attempt)
    const answer = hangEverything ? 'hang' : attempt === 1 ? firstAnswer(sessionId) : 'ok'
    if (answer === 'hang') {
      hanging.add(response) // the receiver has the notice; the bank never hears so
      return
    }
    if (answer === 'reset') {
      request.socket.destroy()
      return
    }
    if (answer === 'unavailable') {
      response.writeHead(503).end()
      return
    }
    accepted.set(sessionId, (accepted.get(sessionId) ?? 0) + 1)
    response.writeHead(204).end()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/backchannel/logout`,
    attempts,
    accepted,
    jtis,
    hanging,
    set hangEverything(value: boolean) {
      hangEverything = value
    },
    async close() {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}
type FlakyReceiver = Awaited<ReturnType<typeof startFlakyReceiver>>

describe.skipIf(inject('postgresUnavailable') !== '')('logout delivery by two bank replicas on PostgreSQL', () => {
  let signer: FastifyInstance
  let databaseUrl: string
  let drop: () => Promise<void>
  let receiver: FlakyReceiver
  const opened: Array<OpenedDatabase<BankDatabase>> = []
  const workers: LogoutDelivery[] = []

  beforeAll(async () => {
    // The keys and jwt signer a bank process has (ssoAuth), without the rest of the bank.
    signer = Fastify()
    await signer.register(ssoAuth, {
      keyring,
      audience: 'bank',
      cookies: { secure: false },
      issuing: { accessTokenTtlSeconds: 900 },
      isRevoked: () => false,
    })
    await signer.ready()
    return () => signer.close()
  })
  beforeEach(async () => {
    ;({ databaseUrl, drop } = await createTestDatabase())
  })
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop()))
    await receiver?.close()
    await Promise.all(opened.splice(0).map(({ db }) => db.destroy().catch(() => {})))
    await drop()
  })

  async function open(applicationName: string) {
    const database = await openDatabase<BankDatabase>({ databaseUrl, migrations: bankMigrations, applicationName })
    opened.push(database)
    return database
  }
  const outboxOf = (database: OpenedDatabase<BankDatabase>) =>
    createLogoutOutbox(database, { urls: [receiver.url], accessTokenTtlSeconds: 900 })

  /** A bank replica's delivery worker on its own pool; `posted` counts its attempts. */
  async function startWorker(name: string, timings: { leaseMs: number; requestTimeoutMs: number }) {
    const database = await open(name)
    const counted = { posted: 0 }
    const post: PostLogoutToken = (url, token, signal) => {
      counted.posted++
      return postLogoutToken(url, token, signal)
    }
    const worker = createLogoutDelivery({
      outbox: outboxOf(database),
      signLogoutToken: (subject) => signLogoutToken(signer.jwt, keyring, subject),
      post,
      log: signer.log,
      tickMs: 50,
      claimant: name,
      ...timings,
    })
    workers.push(worker)
    worker.start()
    return { database, worker, counted }
  }

  /** Commits notices for `count` ended sessions, as a revocation on any replica does. */
  async function revoke(outbox: LogoutOutbox, db: OpenedDatabase<BankDatabase>['db'], ids: string[]) {
    await db.transaction().execute((trx) =>
      outbox.enqueue(
        trx,
        ids.map((id) => ({ id, userId: `user-of-${id}` })),
        Date.now(),
      ),
    )
  }

  it('delivers every notice through a flaky receiver, each accepted once, with a fresh logout token per attempt', async () => {
    const sessionIds = Array.from({ length: 120 }, (_, index) => `session-${index}`)
    const planned = new Map(sessionIds.map((id, index) => [id, firstAnswers[index % firstAnswers.length]!]))
    receiver = await startFlakyReceiver(signer, (sessionId) => planned.get(sessionId) ?? 'ok')
    // The lease is far beyond an attempt (300 ms), so no live worker's notice is ever taken from it.
    const timings = { leaseMs: 5_000, requestTimeoutMs: 300 }
    const [a, b] = [await startWorker('bank-a', timings), await startWorker('bank-b', timings)]
    const writer = await open('bank-writer')
    const outbox = outboxOf(writer)
    // Revocations keep arriving while the workers deliver.
    for (let batch = 0; batch < 6; batch++) {
      await revoke(outbox, writer.db, sessionIds.slice(batch * 20, batch * 20 + 20))
      await new Promise((resolve) => setTimeout(resolve, 60))
    }

    await vi.waitFor(async () => expect(await outbox.countPending()).toBe(0), { timeout: 20_000, interval: 100 })
    // Every notice accepted exactly once; one attempt when the receiver answered, two when it failed the first.
    expect(sessionIds.filter((id) => receiver.accepted.get(id) !== 1)).toEqual([])
    const unexpectedAttempts = sessionIds.filter(
      (id) => receiver.attempts.get(id) !== (planned.get(id) === 'ok' ? 1 : 2),
    )
    expect(unexpectedAttempts).toEqual([])
    expect(new Set(receiver.jtis).size).toBe(receiver.jtis.length)
    // Both replicas did part of the work.
    expect(a.counted.posted).toBeGreaterThan(0)
    expect(b.counted.posted).toBeGreaterThan(0)
    expect(a.counted.posted + b.counted.posted).toBe(receiver.jtis.length)
  })

  it('a worker that dies mid-delivery loses nothing: another one posts its notices once their lease has run out', async () => {
    receiver = await startFlakyReceiver(signer, () => 'ok')
    receiver.hangEverything = true
    // Its posts would time out just before the lease ends; it dies well before that.
    const leaseMs = 3_000
    const dying = await startWorker('bank-dying', { leaseMs, requestTimeoutMs: leaseMs - 100 })
    const writer = await open('bank-writer')
    const outbox = outboxOf(writer)
    const sessionIds = ['session-x', 'session-y', 'session-z']
    await revoke(outbox, writer.db, sessionIds)
    await vi.waitFor(() => expect(receiver.hanging.size).toBe(sessionIds.length), { timeout: 5_000 })
    const claimedAt = Date.now()

    // Its posts are in flight and no transaction is open meanwhile: the worker holds no database connection
    // in a transaction, and nothing in PostgreSQL waits for the receiver.
    const { rows } = await sql<{ state: string }>`
      select state from pg_stat_activity where application_name = 'bank-dying' and state like 'idle in transaction%'
    `.execute(writer.db)
    expect(rows).toEqual([])

    // The process dies: its connections are gone, it never answers, acknowledges nor releases anything.
    await dying.database.db.destroy()
    receiver.hangEverything = false
    const survivor = await startWorker('bank-survivor', { leaseMs, requestTimeoutMs: 300 })

    await vi.waitFor(async () => expect(await outbox.countPending()).toBe(0), { timeout: 15_000, interval: 50 })
    const deliveredAfterMs = Date.now() - claimedAt
    expect(sessionIds.map((id) => receiver.accepted.get(id))).toEqual([1, 1, 1])
    // The survivor waited for the lease (timed by the database's clock, a few ms off this one at most).
    expect(deliveredAfterMs).toBeGreaterThanOrEqual(leaseMs - 100)
    expect(survivor.counted.posted).toBe(sessionIds.length)
    // Each notice reached the receiver twice (the dead worker's post, never answered, and the survivor's).
    expect(sessionIds.map((id) => receiver.attempts.get(id))).toEqual([2, 2, 2])
  })

  it('a worker stopping mid-delivery gives its notices back: another one posts them without waiting for the lease', async () => {
    receiver = await startFlakyReceiver(signer, () => 'ok')
    receiver.hangEverything = true
    const leaseMs = 20_000
    const stopping = await startWorker('bank-stopping', { leaseMs, requestTimeoutMs: 10_000 })
    const writer = await open('bank-writer')
    const outbox = outboxOf(writer)
    await revoke(outbox, writer.db, ['session-s'])
    await vi.waitFor(() => expect(receiver.hanging.size).toBe(1), { timeout: 5_000 })

    await stopping.worker.stop() // SIGTERM: closeWithGrace → app.close() → the worker stops
    receiver.hangEverything = false
    const startedAt = Date.now()
    await startWorker('bank-other', { leaseMs, requestTimeoutMs: 300 })
    await vi.waitFor(async () => expect(await outbox.countPending()).toBe(0), { timeout: 5_000, interval: 50 })
    expect(Date.now() - startedAt).toBeLessThan(leaseMs)
    expect(receiver.accepted.get('session-s')).toBe(1)
  })
})
