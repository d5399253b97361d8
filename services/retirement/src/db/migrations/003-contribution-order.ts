import type { SchemaMigration } from '@sso/shared/db'
import { sql } from 'kysely'

// Contributions are listed newest first. Their timestamps can tie (two within a millisecond) and their ids are random,
// so each gets its plan's next sequence number, taken from a counter on the plan row: an UPDATE … RETURNING that
// PostgreSQL serialises per plan, so two replicas adding to one plan at once never take the same number. (SQLite's
// rowid did this before, and PostgreSQL has no rowid.)
export const contributionOrder: SchemaMigration = {
  async up(db, types) {
    await db.schema
      .alterTable('plans')
      .addColumn('contribution_count', 'integer', (column) => column.notNull().defaultTo(0))
      .execute()
    await db.schema
      .alterTable('contributions')
      .addColumn('sequence', 'integer', (column) => column.notNull().defaultTo(0))
      .execute()
    if (types.engine === 'sqlite') {
      // Rows from before: numbered in the order SQLite inserted them (PostgreSQL never held any before this).
      await sql`
        update contributions set sequence = (
          select count(*) from contributions as earlier
          where earlier.user_id = contributions.user_id and earlier.rowid <= contributions.rowid
        )`.execute(db)
      await sql`
        update plans set contribution_count = (
          select count(*) from contributions where contributions.user_id = plans.user_id
        )`.execute(db)
    }
    await db.schema
      .createIndex('contributions_by_plan_sequence')
      .on('contributions')
      .columns(['user_id', 'sequence'])
      .unique()
      .execute()
  },
}
