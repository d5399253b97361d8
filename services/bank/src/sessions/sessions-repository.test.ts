import { fileURLToPath } from 'node:url'
import { openDatabase } from '@sso/shared'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
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
