import type { SchemaMigration } from '@sso/shared/db'

// Consecutive failed logins per (normalised) username, known or not, so the limit also holds across restarts and for
// every process sharing the database.
export const loginThrottle: SchemaMigration = {
  async up(db, types) {
    await db.schema
      .createTable('login_throttle')
      .addColumn('username', 'text', (column) => column.primaryKey())
      .addColumn('attempts', 'integer', (column) => column.notNull())
      .addColumn('last_attempt_at', types.int64, (column) => column.notNull())
      .$call((table) => types.sqliteTableOptions(table, 'without rowid'))
      .execute()
    await db.schema.createIndex('login_throttle_by_time').on('login_throttle').column('last_attempt_at').execute()
  },
}
