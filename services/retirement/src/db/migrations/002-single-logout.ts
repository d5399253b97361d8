import type { SchemaMigration } from '@sso/shared/db'

// Single logout: what the bank's back-channel notices ended, kept only while a token they concern could still be
// presented, and loaded into memory at start (the per-request check never reads these tables). Times are seconds since
// the Unix epoch, the unit of the tokens' iat and exp.
export const singleLogout: SchemaMigration = {
  async up(db, types) {
    // One ended login session (the logout token's `sid`): every access token carrying that sid is refused.
    await db.schema
      .createTable('revoked_sessions')
      .addColumn('session_id', 'text', (column) => column.primaryKey())
      // notice iat + MAX_ACCESS_TOKEN_TTL + clock tolerance
      .addColumn('keep_until', types.int64, (column) => column.notNull())
      .$call((table) => types.sqliteTableOptions(table, 'strict, without rowid'))
      .execute()

    // Every session of a user (a logout token with `sub` alone): tokens issued at or before `issued_up_to` are refused.
    await db.schema
      .createTable('revoked_users')
      .addColumn('user_id', 'text', (column) => column.primaryKey())
      .addColumn('issued_up_to', types.int64, (column) => column.notNull()) // the notice's iat
      .addColumn('keep_until', types.int64, (column) => column.notNull())
      .$call((table) => types.sqliteTableOptions(table, 'strict, without rowid'))
      .execute()

    // Every logout token accepted, by `jti`, until it expires: the same token twice is a replay (400).
    await db.schema
      .createTable('seen_logout_tokens')
      .addColumn('jti', 'text', (column) => column.primaryKey())
      .addColumn('keep_until', types.int64, (column) => column.notNull()) // the token's exp + clock tolerance
      .$call((table) => types.sqliteTableOptions(table, 'strict, without rowid'))
      .execute()
  },
}
