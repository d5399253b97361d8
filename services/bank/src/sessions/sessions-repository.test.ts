import { fileURLToPath } from 'node:url'
import { openDatabase } from '@sso/shared'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createLogoutOutbox } from '../backchannel/logout-outbox.js'
import { createUsersRepository } from '../identity/users-repository.js'
import { createRefreshTokens } from './refresh-token.js'
import {
  createSessionsRepository,
  type SessionsRepository,
  type SessionsRepositoryOptions,
} from './sessions-repository.js'

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url))
const refreshTokenTtlSeconds = 3600
const accessTokenTtlSeconds = 900
const reuseGraceSeconds = 10
const options: Omit<SessionsRepositoryOptions, 'outbox'> = {
  refreshTokenTtlSeconds,
  accessTokenTtlSeconds,
  reuseGraceSeconds,
  tokens: createRefreshTokens(['a test secret of at least 32 bytes, not used elsewhere']),
}

let db: ReturnType<typeof openDatabase>
let sessions: SessionsRepository
let userId: string
beforeEach(() => {
  db = openDatabase(':memory:', MIGRATIONS_DIR)
  sessions = createSessionsRepository(db, { ...options, outbox: { enqueue: () => {} } })
  // No argon2 here: the repository never looks at the hash.
  userId = createUsersRepository(db).insert('alice', 'not-a-real-hash').id
})
afterEach(() => {
  vi.useRealTimers()
  db.close()
})

describe('sessions repository', () => {
  it('stores only a hash of the refresh token', () => {
    const { refreshToken } = sessions.open(userId, 'test agent')
    const stored = db.prepare('SELECT * FROM login_sessions').get() as Record<string, unknown>
    expect(JSON.stringify(stored)).not.toContain(refreshToken)
    expect((stored.refresh_token_hash as Buffer).length).toBe(32)
    expect(stored.user_agent).toBe('test agent')
  })

  it('deletes an ended session once its last access token has expired, and keeps live ones', () => {
    const ended = sessions.open(userId, undefined)
    sessions.rotate(ended.refreshToken)
    const revoked = sessions.open(userId, undefined)
    sessions.revokeByRefreshToken(revoked.refreshToken)
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 30 * 60_000)
    const live = sessions.open(userId, undefined)
    // The revoked one ended 30 minutes ago, longer than an access token lives: gone. The other ends now.
    vi.setSystemTime(Date.now() + 31 * 60_000)
    expect(sessions.deleteEnded()).toBe(1)
    expect(sessions.refusesAccessTokensOf(ended.session.id)).toBe(false)
    vi.setSystemTime(Date.now() + (accessTokenTtlSeconds + 31) * 1000)
    expect(sessions.deleteEnded()).toBe(1)
    expect(sessions.refusesAccessTokensOf(ended.session.id)).toBe(true)
    expect(sessions.rotate(live.refreshToken).outcome).toBe('rotated')
  })

  it('keeps one row of bounded size per session, however often it rotates', () => {
    const pageCount = () => (db.pragma('page_count', { simple: true }) as number) * 1
    const tableSizes = () =>
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map(
        ({ name }) => [name, (db.prepare(`SELECT count(*) AS n FROM "${name}"`).get() as { n: number }).n],
      )
    let { refreshToken } = sessions.open(userId, 'test agent')
    const rotateTimes = (count: number) => {
      for (let round = 0; round < count; round++) {
        const rotation = sessions.rotate(refreshToken)
        if (rotation.outcome !== 'rotated') throw new Error(`rotation ${round}: ${rotation.outcome}`)
        refreshToken = rotation.refreshToken
      }
    }
    rotateTimes(10)
    const [pagesBefore, rowsBefore] = [pageCount(), tableSizes()]
    rotateTimes(5000)
    expect(tableSizes()).toEqual(rowsBefore)
    expect(pageCount()).toBe(pagesBefore)
    const rowBytes = db
      .prepare(
        `SELECT length(id) + length(user_id) + length(refresh_token_hash) + length(previous_token_hash)
           + length(successor_box) + length(user_agent) + 6 * 8 AS bytes FROM login_sessions`,
      )
      .get() as { bytes: number }
    expect(rowBytes.bytes).toBeLessThan(512)
  })

  it('keeps no usable token: only hashes, and the successor sealed under the predecessor until the window closes', () => {
    const first = sessions.open(userId, undefined).refreshToken
    const rotation = sessions.rotate(first)
    if (rotation.outcome !== 'rotated') throw new Error(rotation.outcome)
    const stored = () => db.prepare('SELECT * FROM login_sessions').get() as Record<string, unknown>
    const dump = JSON.stringify(stored(), (_key, value) =>
      value?.type === 'Buffer' ? Buffer.from(value.data).toString('latin1') : value,
    )
    for (const token of [first, rotation.refreshToken]) {
      expect(dump).not.toContain(token)
      expect(dump).not.toContain(token.split('.')[2])
    }
    expect(stored().successor_box).not.toBeNull()
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + (reuseGraceSeconds + 1) * 1000)
    sessions.deleteEnded()
    expect(stored().successor_box).toBeNull()
  })
})

describe('revocations and their logout notices', () => {
  const urls = ['http://retirement.test/backchannel/logout', 'http://other.test/backchannel/logout']
  const outboxRows = () =>
    db.prepare('SELECT url, session_id AS sessionId, user_id AS userId FROM logout_outbox ORDER BY id').all() as Array<{
      url: string
      sessionId: string
      userId: string
    }>

  beforeEach(() => {
    sessions = createSessionsRepository(db, {
      ...options,
      outbox: createLogoutOutbox(db, { urls, accessTokenTtlSeconds: 900 }),
    })
  })

  it('queues one notice per back-channel URL for every way a session ends', () => {
    const byCookie = sessions.open(userId, undefined)
    const bySid = sessions.open(userId, undefined)
    const reused = sessions.open(userId, undefined)
    expect(sessions.revokeByRefreshToken(byCookie.refreshToken)).toEqual({ id: byCookie.session.id, userId })
    expect(sessions.revokeSession(bySid.session.id, userId)).toBe(true)
    const rotated = sessions.rotate(reused.refreshToken)
    if (rotated.outcome !== 'rotated') throw new Error(rotated.outcome)
    sessions.rotate(rotated.refreshToken)
    // Two generations old: reuse whatever the grace window.
    expect(sessions.rotate(reused.refreshToken).outcome).toBe('reused')
    const everywhere = [sessions.open(userId, undefined), sessions.open(userId, undefined)]
    expect(sessions.revokeAllForUser(userId)).toBe(2)

    const ended = [byCookie, bySid, reused, ...everywhere].map(({ session }) => session.id)
    expect(outboxRows()).toEqual(ended.flatMap((sessionId) => urls.map((url) => ({ url, sessionId, userId }))))
    // Ending an ended session again queues nothing more.
    expect(sessions.revokeSession(bySid.session.id, userId)).toBe(false)
    expect(sessions.revokeAllForUser(userId)).toBe(0)
    expect(outboxRows()).toHaveLength(ended.length * urls.length)
    expect(ended.every((id) => sessions.refusesAccessTokensOf(id))).toBe(true)
  })

  it('revokes nothing when the notice cannot be written: one transaction', () => {
    const failing = createSessionsRepository(db, {
      ...options,
      outbox: {
        enqueue: () => {
          throw new Error('disk full')
        },
      },
    })
    const { session, refreshToken } = failing.open(userId, undefined)
    expect(() => failing.revokeByRefreshToken(refreshToken)).toThrow('disk full')
    expect(failing.refusesAccessTokensOf(session.id)).toBe(false)
    expect(failing.listLive(userId).map((live) => live.id)).toEqual([session.id])
  })
})
