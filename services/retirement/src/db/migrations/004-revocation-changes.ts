import type { SchemaMigration } from '@sso/shared/db'
import { sql } from 'kysely'

// Replicas (PostgreSQL): each revocation row records the transaction that last changed it, `changed_xid`, so every
// replica's poll can ask "what changed since my last look" exactly (backchannel/revocation-list.ts says how). On SQLite
// there is one process, whose memory sees every change as it commits: nothing to add.
export const revocationChanges: SchemaMigration = {
  async up(db, types) {
    if (types.engine !== 'postgres') return
    for (const table of ['revoked_sessions', 'revoked_users']) {
      await db.schema
        .alterTable(table)
        .addColumn('changed_xid', sql`xid8`, (column) => column.notNull().defaultTo(sql`pg_current_xact_id()`))
        .execute()
      await db.schema.createIndex(`${table}_changed_xid`).on(table).column('changed_xid').execute()
    }
  },
}
