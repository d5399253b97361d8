import type { SchemaMigration } from '@sso/shared/db'
import { sql } from 'kysely'

export const plansContributions: SchemaMigration = {
  async up(db, types) {
    // One plan per user. `user_id` is the access token's `sub`: users live in the bank's database, which this service
    // never reads, so there is no foreign key to them. A plan row appears the first time the user opens their plan.
    await db.schema
      .createTable('plans')
      .addColumn('user_id', 'text', (column) => column.primaryKey())
      .addColumn('created_at', 'text', (column) => column.notNull()) // ISO 8601, UTC
      .$call((table) => types.sqliteTableOptions(table, 'strict'))
      .execute()

    // Money is integer cents: floating point cannot represent most decimal amounts exactly.
    await db.schema
      .createTable('contributions')
      // A random UUID, so ids reveal nothing about how many contributions others made.
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('user_id', 'text', (column) => column.notNull().references('plans.user_id'))
      .addColumn('amount_cents', 'integer', (column) =>
        column.notNull().check(sql`amount_cents between 1 and 100000000`),
      )
      .addColumn('created_at', 'text', (column) => column.notNull()) // ISO 8601, UTC
      .$call((table) => types.sqliteTableOptions(table, 'strict'))
      .execute()
    await db.schema
      .createIndex('contributions_by_user')
      .on('contributions')
      .columns(['user_id', 'created_at'])
      .execute()
  },
}
