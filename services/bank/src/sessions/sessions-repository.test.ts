import { type OpenedDatabase, openDatabase } from '@sso/shared/db'
import { type Kysely, sql } from 'kysely'
import { afterEach, beforeEach, expect, it, vi } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import { createLogoutOutbox } from '../backchannel/logout-outbox.js'
import type { BankDatabase } from '../db/bank-database.js'
import { bankMigrations } from '../db/migrations/index.js'
import { createUsersRepository } from '../identity/users-repository.js'
import { createRefreshTokens } from './refresh-token.js'
import {
  createSessionsRepository,
  type SessionsRepository,
  type SessionsRepositoryOptions,
} from './sessions-repository.js'

const refreshTokenTtlSeconds = 3600
const accessTokenTtlSeconds = 900
const reuseGraceSeconds = 10
const options: Omit<SessionsRepositoryOptions, 'outbox'> = {
  refreshTokenTtlSeconds,
  accessTokenTtlSeconds,
  reuseGraceSeconds,
  tokens: createRefreshTokens(['a test secret of at least 32 bytes, not used elsewhere']),
}
const silentOutbox = { enqueue: async () => {}, announce: () => {} }

let database: OpenedDatabase<BankDatabase>
let db: Kysely<BankDatabase>
let sessions: SessionsRepository
let userId: string

const storedRow = async () =>
  (await sql<Record<string, unknown>>`select * from login_sessions`.execute(db)).rows[0] as Record<string, unknown>

describeEachEngine('sessions repository', (engine) => {
  beforeEach(async () => {
    database = await openDatabase({ ...(await engine.createDatabase(bankMigrations)), migrations: bankMigrations })
    db = database.db
    sessions = createSessionsRepository(db, { ...options, outbox: silentOutbox })
    // No argon2 here: the repository never looks at the hash.
    userId = (await createUsersRepository(db).insert('alice', 'not-a-real-hash')).id
  })
  afterEach(async () => {
    vi.useRealTimers()
    await db.destroy()
  })

  it('stores only a hash of the refresh token', async () => {
    const { refreshToken } = await sessions.open(userId, 'test agent')
    const stored = await storedRow()
    expect(JSON.stringify(stored)).not.toContain(refreshToken)
    expect((stored.refreshTokenHash as Buffer).length).toBe(32)
    expect(stored.userAgent).toBe('test agent')
  })

  it('deletes an ended session once its last access token has expired, and keeps live ones', async () => {
    const ended = await sessions.open(userId, undefined)
    await sessions.rotate(ended.refreshToken)
    const revoked = await sessions.open(userId, undefined)
    await sessions.revokeByRefreshToken(revoked.refreshToken)
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 30 * 60_000)
    const live = await sessions.open(userId, undefined)
    // The revoked one ended 30 minutes ago, longer than an access token lives: gone. The other ends now.
    vi.setSystemTime(Date.now() + 31 * 60_000)
    expect(await sessions.deleteEnded()).toBe(1)
    // Past its lifetime but not yet deleted: refused all the same (an access token never outlives its session).
    expect(await sessions.refusesAccessTokensOf(ended.session.id, userId)).toBe(true)
    vi.setSystemTime(Date.now() + (accessTokenTtlSeconds + 31) * 1000)
    expect(await sessions.deleteEnded()).toBe(1)
    expect(await sessions.refusesAccessTokensOf(ended.session.id, userId)).toBe(true)
    expect((await sessions.rotate(live.refreshToken)).outcome).toBe('rotated')
  })

  it("refuses access tokens pairing a live session with another user's sub", async () => {
    const { session } = await sessions.open(userId, undefined)
    const otherUserId = (await createUsersRepository(db).insert('bob', 'not-a-real-hash')).id
    expect(await sessions.refusesAccessTokensOf(session.id, userId)).toBe(false)
    expect(await sessions.refusesAccessTokensOf(session.id, otherUserId)).toBe(true)
  })

  it('keeps one row of bounded size per session, however often it rotates', async () => {
    const tableSizes = async () => {
      const tables = await db.introspection.getTables()
      const sizes: Array<[string, number]> = []
      for (const { name } of tables) {
        const { rows } = await sql<{ n: number }>`select count(*) as n from ${sql.table(name)}`.execute(db)
        sizes.push([name, Number(rows[0]?.n)])
      }
      return sizes
    }
    // SQLite reuses its pages in place; PostgreSQL keeps dead row versions until vacuum, so only rows are compared.
    const pageCount = async () =>
      engine.name === 'sqlite' ? (await sql<{ page_count: number }>`pragma page_count`.execute(db)).rows[0] : 'n/a'
    let { refreshToken } = await sessions.open(userId, 'test agent')
    const rotateTimes = async (count: number) => {
      for (let round = 0; round < count; round++) {
        const rotation = await sessions.rotate(refreshToken)
        if (rotation.outcome !== 'rotated') throw new Error(`rotation ${round}: ${rotation.outcome}`)
        refreshToken = rotation.refreshToken
      }
    }
    await rotateTimes(10)
    const [pagesBefore, rowsBefore] = [await pageCount(), await tableSizes()]
    // Fewer rounds over PostgreSQL's network round trips; a per-rotation row would show after ten.
    await rotateTimes(engine.name === 'sqlite' ? 5000 : 500)
    expect(await tableSizes()).toEqual(rowsBefore)
    expect(await pageCount()).toEqual(pagesBefore)
    const length = engine.name === 'sqlite' ? 'length' : 'octet_length'
    const { rows } = await sql<{ bytes: number }>`
      select ${sql.raw(length)}(id) + ${sql.raw(length)}(user_id) + ${sql.raw(length)}(refresh_token_hash)
        + ${sql.raw(length)}(previous_token_hash) + ${sql.raw(length)}(successor_box)
        + ${sql.raw(length)}(user_agent) + 6 * 8 as bytes
      from login_sessions`.execute(db)
    expect(Number(rows[0]?.bytes)).toBeLessThan(512)
  })

  it('keeps no usable token: only hashes, and the successor sealed under the predecessor until the window closes', async () => {
    const first = (await sessions.open(userId, undefined)).refreshToken
    const rotation = await sessions.rotate(first)
    if (rotation.outcome !== 'rotated') throw new Error(rotation.outcome)
    const dump = JSON.stringify(await storedRow(), (_key, value) =>
      value?.type === 'Buffer' ? Buffer.from(value.data).toString('latin1') : value,
    )
    for (const token of [first, rotation.refreshToken]) {
      expect(dump).not.toContain(token)
      expect(dump).not.toContain(token.split('.')[2])
    }
    expect((await storedRow()).successorBox).not.toBeNull()
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + (reuseGraceSeconds + 1) * 1000)
    await sessions.deleteEnded()
    expect((await storedRow()).successorBox).toBeNull()
  })

  it('gives parallel presentations of one token one successor, and forks nothing', async () => {
    const { refreshToken } = await sessions.open(userId, undefined)
    const rotations = await Promise.all(Array.from({ length: 8 }, () => sessions.rotate(refreshToken)))
    const successors = new Set(
      rotations.map((rotation) => (rotation.outcome === 'rotated' ? rotation.refreshToken : '')),
    )
    expect([...successors]).toHaveLength(1)
    expect(rotations.filter((rotation) => rotation.outcome === 'rotated' && !rotation.replayed)).toHaveLength(1)
    const [successor = ''] = successors
    expect((await sessions.rotate(successor)).outcome).toBe('rotated')
  })

  const urls = ['http://retirement.test/backchannel/logout', 'http://other.test/backchannel/logout']
  const outboxRows = () => db.selectFrom('logoutOutbox').select(['url', 'sessionId', 'userId']).orderBy('id').execute()

  it('queues one notice per back-channel URL for every way a session ends', async () => {
    sessions = createSessionsRepository(db, {
      ...options,
      outbox: createLogoutOutbox(database, { urls, accessTokenTtlSeconds: 900 }),
    })
    const byCookie = await sessions.open(userId, undefined)
    const bySid = await sessions.open(userId, undefined)
    const reused = await sessions.open(userId, undefined)
    expect(await sessions.revokeByRefreshToken(byCookie.refreshToken)).toEqual({ id: byCookie.session.id, userId })
    expect(await sessions.revokeSession(bySid.session.id, userId)).toBe(true)
    const rotated = await sessions.rotate(reused.refreshToken)
    if (rotated.outcome !== 'rotated') throw new Error(rotated.outcome)
    await sessions.rotate(rotated.refreshToken)
    // Two generations old: reuse whatever the grace window.
    expect((await sessions.rotate(reused.refreshToken)).outcome).toBe('reused')
    const everywhere = [await sessions.open(userId, undefined), await sessions.open(userId, undefined)]
    expect(await sessions.revokeAllForUser(userId)).toBe(2)

    const ended = [byCookie, bySid, reused, ...everywhere].map(({ session }) => session.id)
    expect(await outboxRows()).toEqual(ended.flatMap((sessionId) => urls.map((url) => ({ url, sessionId, userId }))))
    // Ending an ended session again queues nothing more.
    expect(await sessions.revokeSession(bySid.session.id, userId)).toBe(false)
    expect(await sessions.revokeAllForUser(userId)).toBe(0)
    expect(await outboxRows()).toHaveLength(ended.length * urls.length)
    for (const id of ended) expect(await sessions.refusesAccessTokensOf(id, userId)).toBe(true)
  })

  it('revokes nothing when the notice cannot be written: one transaction', async () => {
    const failing = createSessionsRepository(db, {
      ...options,
      outbox: {
        enqueue: async () => {
          throw new Error('disk full')
        },
        announce: () => {},
      },
    })
    const { session, refreshToken } = await failing.open(userId, undefined)
    await expect(failing.revokeByRefreshToken(refreshToken)).rejects.toThrow('disk full')
    expect(await failing.refusesAccessTokensOf(session.id, userId)).toBe(false)
    expect((await failing.listLive(userId)).map((live) => live.id)).toEqual([session.id])
  })

  it('revokes nothing when a reuse cannot write its notice, and the stolen token stays refused', async () => {
    const failing = createSessionsRepository(db, {
      ...options,
      outbox: {
        enqueue: async () => {
          throw new Error('disk full')
        },
        announce: () => {},
      },
    })
    const { session, refreshToken } = await failing.open(userId, undefined)
    const first = await failing.rotate(refreshToken)
    if (first.outcome !== 'rotated') throw new Error(first.outcome)
    await failing.rotate(first.refreshToken)
    await expect(failing.rotate(refreshToken)).rejects.toThrow('disk full')
    expect(await failing.refusesAccessTokensOf(session.id, userId)).toBe(false)
  })
})
