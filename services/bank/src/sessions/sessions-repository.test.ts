import { fileURLToPath } from 'node:url'
import { openDatabase } from '@sso/shared'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createLogoutOutbox } from '../backchannel/logout-outbox.js'
import { createUsersRepository } from '../identity/users-repository.js'
import { createSessionsRepository, type SessionsRepository } from './sessions-repository.js'

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url))
const refreshTokenTtlSeconds = 3600

let db: ReturnType<typeof openDatabase>
let sessions: SessionsRepository
let userId: string
beforeEach(() => {
  db = openDatabase(':memory:', MIGRATIONS_DIR)
  sessions = createSessionsRepository(db, { refreshTokenTtlSeconds, outbox: { enqueue: () => {} } })
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

  it('deletes sessions past their lifetime with their retired tokens, and keeps live ones', () => {
    const ended = sessions.open(userId, undefined)
    sessions.rotate(ended.refreshToken)
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 30 * 60_000)
    const live = sessions.open(userId, undefined)
    vi.setSystemTime(Date.now() + 31 * 60_000)
    expect(sessions.deleteExpired()).toBe(1)
    expect(db.prepare('SELECT count(*) AS n FROM retired_refresh_tokens').get()).toEqual({ n: 0 })
    expect(sessions.rotate(live.refreshToken).outcome).toBe('rotated')
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
      refreshTokenTtlSeconds,
      outbox: createLogoutOutbox(db, { urls, accessTokenTtlSeconds: 900 }),
    })
  })

  it('queues one notice per back-channel URL for every way a session ends', () => {
    const byCookie = sessions.open(userId, undefined)
    const bySid = sessions.open(userId, undefined)
    const reused = sessions.open(userId, undefined)
    expect(sessions.revokeByRefreshToken(byCookie.refreshToken)).toEqual({ id: byCookie.session.id, userId })
    expect(sessions.revokeSession(bySid.session.id, userId)).toBe(true)
    sessions.rotate(reused.refreshToken)
    expect(sessions.rotate(reused.refreshToken).outcome).toBe('reused')
    const everywhere = [sessions.open(userId, undefined), sessions.open(userId, undefined)]
    expect(sessions.revokeAllForUser(userId)).toBe(2)

    const ended = [byCookie, bySid, reused, ...everywhere].map(({ session }) => session.id)
    expect(outboxRows()).toEqual(ended.flatMap((sessionId) => urls.map((url) => ({ url, sessionId, userId }))))
    // Ending an ended session again queues nothing more.
    expect(sessions.revokeSession(bySid.session.id, userId)).toBe(false)
    expect(sessions.revokeAllForUser(userId)).toBe(0)
    expect(outboxRows()).toHaveLength(ended.length * urls.length)
    expect(ended.every((id) => sessions.isRevoked(id))).toBe(true)
  })

  it('revokes nothing when the notice cannot be written: one transaction', () => {
    const failing = createSessionsRepository(db, {
      refreshTokenTtlSeconds,
      outbox: {
        enqueue: () => {
          throw new Error('disk full')
        },
      },
    })
    const { session, refreshToken } = failing.open(userId, undefined)
    expect(() => failing.revokeByRefreshToken(refreshToken)).toThrow('disk full')
    expect(failing.isRevoked(session.id)).toBe(false)
    expect(failing.listLive(userId).map((live) => live.id)).toEqual([session.id])
  })
})
