import type { SchemaMigration } from '@sso/shared/db'

// Login sessions as the first release had them (the old 001's sessions half, numbered before the logout outbox so
// that the order of these migrations is the order of the old .sql files; see legacy-versions.ts). 005 reshapes them.
export const loginSessions: SchemaMigration = {
  async up(db, types) {
    await db.schema
      .createTable('login_sessions')
      .addColumn('id', 'text', (column) => column.primaryKey()) // random: the access token's `sid`
      .addColumn('user_id', 'text', (column) => column.notNull().references('users.id').onDelete('cascade'))
      // SHA-256 of the current refresh token; the token is never stored.
      .addColumn('refresh_token_hash', types.bytes, (column) => column.notNull().unique())
      .addColumn('created_at', types.int64, (column) => column.notNull())
      .addColumn('last_used_at', types.int64, (column) => column.notNull())
      // created_at + REFRESH_TOKEN_TTL; rotation never extends it.
      .addColumn('expires_at', types.int64, (column) => column.notNull())
      .addColumn('revoked_at', types.int64)
      .addColumn('user_agent', 'text')
      .execute()
    await db.schema.createIndex('login_sessions_by_user').on('login_sessions').column('user_id').execute()

    // Every refresh token a session had rotated away from (dropped by 005, which recognises them by generation).
    await db.schema
      .createTable('retired_refresh_tokens')
      .addColumn('token_hash', types.bytes, (column) => column.primaryKey())
      .addColumn('session_id', 'text', (column) => column.notNull().references('login_sessions.id').onDelete('cascade'))
      .addColumn('retired_at', types.int64, (column) => column.notNull())
      .$call((table) => types.sqliteTableOptions(table, 'without rowid'))
      .execute()
    await db.schema
      .createIndex('retired_refresh_tokens_by_session')
      .on('retired_refresh_tokens')
      .column('session_id')
      .execute()
  },
}
