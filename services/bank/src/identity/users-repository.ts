import { randomUUID } from 'node:crypto'
import type { Database } from '@sso/shared'

export interface User {
  id: string
  username: string
  passwordHash: string
}

/** The users table. Usernames arrive already normalised (NFKC, lowercase), as the schema checked them. */
export function createUsersRepository(db: Database) {
  const selectByUsername = db.prepare<[string], User>(
    'SELECT id, username, password_hash AS passwordHash FROM users WHERE username = ?',
  )
  const selectById = db.prepare<[string], User>(
    'SELECT id, username, password_hash AS passwordHash FROM users WHERE id = ?',
  )
  const insert = db.prepare<[string, string, string, number]>(
    'INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)',
  )
  return {
    findByUsername: (username: string) => selectByUsername.get(username),
    findById: (id: string) => selectById.get(id),
    /** Throws SQLite's SQLITE_CONSTRAINT_UNIQUE when the username is taken. */
    insert(username: string, passwordHash: string): User {
      const user = { id: randomUUID(), username, passwordHash }
      insert.run(user.id, username, passwordHash, Date.now())
      return user
    },
  }
}
export type UsersRepository = ReturnType<typeof createUsersRepository>
