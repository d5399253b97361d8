import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { BankDatabase } from '../db/bank-database.js'

export interface User {
  id: string
  username: string
  passwordHash: string
}

/** The users table. Usernames arrive already normalised (NFKC, lowercase), as the schema checked them. */
export function createUsersRepository(db: Kysely<BankDatabase>) {
  return {
    findByUsername: (username: string): Promise<User | undefined> =>
      db
        .selectFrom('users')
        .select(['id', 'username', 'passwordHash'])
        .where('username', '=', username)
        .executeTakeFirst(),
    findById: (id: string): Promise<User | undefined> =>
      db.selectFrom('users').select(['id', 'username', 'passwordHash']).where('id', '=', id).executeTakeFirst(),
    /**
     * Inserts a user, in `executor`'s transaction when given one (registration opens the account alongside). A taken
     * username fails on the UNIQUE constraint: see {@link isUniqueViolation}.
     */
    async insert(username: string, passwordHash: string, executor: Kysely<BankDatabase> = db): Promise<User> {
      const user = { id: randomUUID(), username, passwordHash }
      await executor
        .insertInto('users')
        .values({ ...user, createdAt: Date.now() })
        .execute()
      return user
    },
  }
}
export type UsersRepository = ReturnType<typeof createUsersRepository>

/** A UNIQUE constraint refused the write: SQLite's SQLITE_CONSTRAINT_UNIQUE, PostgreSQL's 23505. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505'
}
