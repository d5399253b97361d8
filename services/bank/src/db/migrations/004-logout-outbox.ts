import type { SchemaMigration } from '@sso/shared/db'

// Single logout: one row per (ended login session, back-channel URL) still to be told. Written in the same transaction
// as the revocation, so a crash can lose neither without the other; deleted once the receiver answered 2xx, or once
// every access token of the session has expired anyway (give_up_at). Times are milliseconds since the Unix epoch.
//
// No foreign key to login_sessions: a notice must outlive the session row (a deleted user, a pruned session).
export const logoutOutbox: SchemaMigration = {
  async up(db, types) {
    await db.schema
      .createTable('logout_outbox')
      .$call((table) => types.addGeneratedId(table, 'id'))
      .addColumn('url', 'text', (column) => column.notNull()) // one entry of BACKCHANNEL_LOGOUT_URLS
      // The logout token's `sid`; NULL: every session of the user (`sub` alone).
      .addColumn('session_id', 'text')
      .addColumn('user_id', 'text', (column) => column.notNull()) // the logout token's `sub`
      .addColumn('created_at', types.int64, (column) => column.notNull()) // when the session was revoked
      .addColumn('attempts', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('next_attempt_at', types.int64, (column) => column.notNull())
      // created_at + ACCESS_TOKEN_TTL + clock tolerance
      .addColumn('give_up_at', types.int64, (column) => column.notNull())
      .execute()
    await db.schema.createIndex('logout_outbox_due').on('logout_outbox').column('next_attempt_at').execute()
  },
}
