import type { SchemaMigration } from '@sso/shared/db'
import { sql } from 'kysely'

// Times are milliseconds since the Unix epoch. (The old 001 also made the login throttle and sessions: 002, 003.)
export const usersAccounts: SchemaMigration = {
  async up(db, { int64 }) {
    await db.schema
      .createTable('users')
      .addColumn('id', 'text', (column) => column.primaryKey()) // a UUID: the access token's `sub`
      .addColumn('username', 'text', (column) => column.notNull().unique().check(sql`username = lower(username)`))
      .addColumn('password_hash', 'text', (column) => column.notNull()) // argon2id, PHC string format
      .addColumn('created_at', int64, (column) => column.notNull())
      .execute()

    await db.schema
      .createTable('accounts')
      .addColumn('id', 'text', (column) => column.primaryKey()) // a UUID
      .addColumn('user_id', 'text', (column) => column.notNull().references('users.id').onDelete('cascade'))
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('balance_cents', int64, (column) => column.notNull().defaultTo(0))
      .addColumn('created_at', int64, (column) => column.notNull())
      .execute()
    await db.schema.createIndex('accounts_by_user').on('accounts').column('user_id').execute()
  },
}
