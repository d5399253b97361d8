import type { SchemaMigration } from '@sso/shared/db'

// Refresh sessions keep a fixed amount of data however often they rotate. One row per login session holds everything
// reuse detection and the grace window need; the per-rotation rows of retired_refresh_tokens go. Times are
// milliseconds since the Unix epoch.
export const boundedRefreshSessions: SchemaMigration = {
  async up(db, types) {
    await db.schema
      .alterTable('login_sessions')
      // The current token's generation: 0 at login, +1 per rotation. Tokens carry theirs (refresh-token.ts), so a
      // presented token of a lower generation, with a valid MAC, is recognised as an older token of this session.
      .addColumn('generation', 'integer', (column) => column.notNull().defaultTo(0))
      .execute()
    // SHA-256 of the token the current one replaced, and when: for REFRESH_REUSE_GRACE (parallel tabs).
    await db.schema.alterTable('login_sessions').addColumn('previous_token_hash', types.bytes).execute()
    await db.schema.alterTable('login_sessions').addColumn('rotated_at', types.int64).execute()
    // The current token, AES-256-GCM under a key derived from the previous one (only its holder can open it); NULL
    // once the grace window has passed (cleared by the next rotation, a revocation or the hourly clean-up).
    await db.schema.alterTable('login_sessions').addColumn('successor_box', types.bytes).execute()
    // Older tokens are now recognised by generation; the sessions these rows belonged to keep their current token.
    await db.schema.dropTable('retired_refresh_tokens').execute()
  },
}
