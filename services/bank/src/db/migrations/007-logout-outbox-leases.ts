import type { SchemaMigration } from '@sso/shared/db'

// Several bank replicas deliver from one outbox: a worker claims a notice by leasing it (leased_until, on the
// database's clock, milliseconds since the Unix epoch like the table's other times) and names itself (claimed_by),
// then posts it outside any transaction. While the lease runs no other worker takes the notice; once it has run out
// (the worker died mid-delivery) any worker may claim it again, so nothing is lost. NULL: not claimed.
export const logoutOutboxLeases: SchemaMigration = {
  async up(db, types) {
    await db.schema.alterTable('logout_outbox').addColumn('leased_until', types.int64).execute()
    await db.schema.alterTable('logout_outbox').addColumn('claimed_by', 'text').execute()
  },
}
