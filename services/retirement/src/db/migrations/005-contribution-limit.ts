import type { SchemaMigration } from '@sso/shared/db'

// The per-user contribution limit (plans/plans-repository.ts) needs to know when each contribution was added, on the
// database's clock: the one clock every replica shares, whatever each machine's says. `created_at` was written by the
// replica's own clock, so a new column. Rows from before this migration get 0 (the epoch): they are long past any
// window, so nobody is refused because of them.
//
// No new index: "the newest 100 of a user", each page before a given contribution, and the limit's check (the added
// time of one contribution, found by its sequence number) are all range or point reads of the unique
// `contributions_by_plan_sequence` (user_id, sequence) from 003. The older `contributions_by_user` (user_id,
// created_at) has served no query since 003 ordered the list by sequence: it only cost every insert a write, so it goes.
export const contributionLimit: SchemaMigration = {
  async up(db, types) {
    await db.schema
      .alterTable('contributions')
      .addColumn('added_at_ms', types.int64, (column) => column.notNull().defaultTo(0))
      .execute()
    await db.schema.dropIndex('contributions_by_user').execute()
  },
}
