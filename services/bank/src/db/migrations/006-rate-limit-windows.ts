import type { SchemaMigration } from '@sso/shared/db'

// The per-address limits (login, sign-up, refresh) and the per-session refresh limit, counted in the database so that
// every replica spends the same budget: one row per key (the address or session and the limit's group), its hits in
// the current window and when that window started, on the database's clock (milliseconds since the epoch).
export const rateLimitWindows: SchemaMigration = {
  async up(db, types) {
    await db.schema
      .createTable('rate_limit_windows')
      .addColumn('key', 'text', (column) => column.primaryKey())
      .addColumn('hits', 'integer', (column) => column.notNull())
      .addColumn('window_started_at', types.int64, (column) => column.notNull())
      .$call((table) => types.sqliteTableOptions(table, 'without rowid'))
      .execute()
    await db.schema
      .createIndex('rate_limit_windows_by_start')
      .on('rate_limit_windows')
      .column('window_started_at')
      .execute()
  },
}
