// The outbox as several bank replicas share it: a notice is claimed by one worker at a time, for a lease, and claimed
// again once that lease has run out (its worker died). On PostgreSQL the openers below are separate connection pools,
// so their claims really run at the same time (`FOR UPDATE SKIP LOCKED`); on SQLite, separate connections to one file.
import { type OpenedDatabase, openDatabase } from '@sso/shared/db'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { BankDatabase } from '../db/bank-database.js'
import { bankMigrations } from '../db/migrations/index.js'
import { type ClaimedNotice, createLogoutOutbox, type EndedSession, type LogoutOutbox } from './logout-outbox.js'

const URL_A = 'http://retirement.test/backchannel/logout'
const leaseMs = 300

describeEachEngine('logout outbox claims', (engine) => {
  let replicas: Array<OpenedDatabase<BankDatabase>>
  let outboxes: LogoutOutbox[]
  let outbox: LogoutOutbox
  beforeEach(async () => {
    const settings = await engine.createDatabase(bankMigrations)
    replicas = []
    for (let index = 0; index < 3; index++)
      replicas.push(await openDatabase<BankDatabase>({ ...settings, migrations: bankMigrations }))
    outboxes = replicas.map((database) => createLogoutOutbox(database, { urls: [URL_A], accessTokenTtlSeconds: 900 }))
    outbox = outboxes[0]!
  })
  afterEach(async () => {
    await Promise.all(replicas.map(({ db }) => db.destroy()))
  })

  /** Commits `count` revocations' notices, as a revocation's transaction does. */
  async function enqueue(count: number, revokedAt = Date.now()): Promise<EndedSession[]> {
    const ended = Array.from({ length: count }, (_, index) => ({ id: `session-${index}`, userId: `user-${index}` }))
    await replicas[0]!.db.transaction().execute((trx) => outbox.enqueue(trx, ended, revokedAt))
    return ended
  }
  const claim = (on: LogoutOutbox, claimant: string, limit = 50, now = Date.now()) =>
    on.claimDue({ now, limit, leaseMs, claimant })
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

  it('hands a due notice to one claimant, oldest first, leased and named; not before it is due', async () => {
    const revokedAt = Date.now()
    await enqueue(3, revokedAt)
    expect(await claim(outbox, 'early', 50, revokedAt - 1)).toEqual([])
    const claimed = await claim(outbox, 'worker-a', 2)
    expect(claimed.map((notice) => notice.sessionId)).toEqual(['session-0', 'session-1'])
    expect(claimed[0]).toMatchObject({ url: URL_A, userId: 'user-0', attempts: 0, claimedBy: 'worker-a' })
    expect(claimed[0]!.leasedUntil).toBeGreaterThan(Date.now() - 5_000)
    // The third is still free; the first two are not, to any claimant, on any connection.
    expect((await claim(outboxes[1]!, 'worker-b')).map((notice) => notice.sessionId)).toEqual(['session-2'])
    expect(await claim(outboxes[2]!, 'worker-c')).toEqual([])
  })

  it('never hands the same notice to two claimants claiming at once on separate connections', async () => {
    const ended = await enqueue(150)
    const claimedBy = new Map<string, string[]>()
    await Promise.all(
      outboxes.flatMap((on, replica) =>
        [0, 1].map(async (loop) => {
          const claimant = `worker-${replica}-${loop}`
          for (;;) {
            const batch = await claim(on, claimant, 7)
            if (batch.length === 0) return
            for (const notice of batch)
              claimedBy.set(notice.sessionId ?? '', [...(claimedBy.get(notice.sessionId ?? '') ?? []), claimant])
          }
        }),
      ),
    )
    expect([...claimedBy.keys()].sort()).toEqual(ended.map((session) => session.id).sort())
    expect([...claimedBy.values()].filter((claimants) => claimants.length !== 1)).toEqual([])
  })

  it('hands a notice out again once its lease has run out (its worker died), and the late worker changes nothing', async () => {
    await enqueue(1)
    const [stale] = (await claim(outbox, 'died')) as [ClaimedNotice]
    expect(await claim(outboxes[1]!, 'survivor')).toEqual([])
    await sleep(leaseMs + 100)
    const [taken] = (await claim(outboxes[1]!, 'survivor')) as [ClaimedNotice]
    expect(taken).toMatchObject({ id: stale.id, claimedBy: 'survivor', attempts: 0 })
    // The first worker comes back with a failure: its claim is over, so it neither counts nor frees the notice.
    expect(await outbox.scheduleRetry(stale, 1, Date.now())).toBe(false)
    expect(await outbox.release(stale)).toBe(false)
    expect(await claim(outboxes[2]!, 'third')).toEqual([])
    // The holder's retry does count, and frees the notice at its next attempt time.
    expect(await outboxes[1]!.scheduleRetry(taken, 1, Date.now() + 60_000)).toBe(true)
    expect(await claim(outboxes[2]!, 'third')).toEqual([])
    const [retried] = await claim(outboxes[2]!, 'third', 50, Date.now() + 60_000)
    expect(retried).toMatchObject({ id: stale.id, attempts: 1, claimedBy: 'third' })
  })

  it('a released notice is free at once and keeps its attempts', async () => {
    await enqueue(1)
    const [claimed] = (await claim(outbox, 'stopping')) as [ClaimedNotice]
    expect(await outbox.release(claimed)).toBe(true)
    expect(await claim(outboxes[1]!, 'other')).toMatchObject([{ id: claimed.id, attempts: 0, claimedBy: 'other' }])
  })

  it('removing a delivered notice is idempotent, whoever holds it by then', async () => {
    await enqueue(2)
    const [delivered] = (await claim(outbox, 'worker-a', 1)) as [ClaimedNotice]
    expect(await outbox.remove(delivered.id)).toBe(true)
    expect(await outboxes[1]!.remove(delivered.id)).toBe(false)
    expect(await outbox.countPending()).toBe(1)
  })
})

describeEachEngine('logout outbox backlog', (engine) => {
  let database: OpenedDatabase<BankDatabase>
  let outbox: LogoutOutbox
  beforeEach(async () => {
    database = await openDatabase<BankDatabase>({
      ...(await engine.createDatabase(bankMigrations)),
      migrations: bankMigrations,
    })
    outbox = createLogoutOutbox(database, { urls: [URL_A], accessTokenTtlSeconds: 900 })
  })
  afterEach(() => database.db.destroy())

  it('counts the notices waiting and gives the oldest one’s revocation time, as numbers on either engine', async () => {
    expect(await outbox.readBacklog()).toEqual({ pending: 0, oldestCreatedAtMs: undefined })
    const oldest = Date.now() - 5_000
    for (const [index, revokedAt] of [oldest + 2_000, oldest, oldest + 1_000].entries()) {
      const ended = [{ id: `session-${index}`, userId: `user-${index}` }]
      await database.db.transaction().execute((trx) => outbox.enqueue(trx, ended, revokedAt))
    }
    expect(await outbox.readBacklog()).toEqual({ pending: 3, oldestCreatedAtMs: oldest })
  })
})
