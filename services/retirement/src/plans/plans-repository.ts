import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { RetirementDatabase } from '../db/retirement-database.js'

/** The largest single contribution, in cents ($1,000,000.00); the table's CHECK enforces it too. */
export const MAX_CONTRIBUTION_CENTS = 100_000_000

export interface Contribution {
  id: string
  amountCents: number
  /** ISO 8601, UTC. */
  createdAt: string
}

export interface Plan {
  balanceCents: number
  /** Newest first. */
  contributions: Contribution[]
}

type Executor = Kysely<RetirementDatabase>

export function createPlansRepository(db: Kysely<RetirementDatabase>) {
  // Reading a plan writes only the first time, so ordinary page views take no write lock. ON CONFLICT: two first
  // visits at once (two tabs, two replicas) both succeed.
  async function openPlan(executor: Executor, userId: string) {
    const found = await executor.selectFrom('plans').select('userId').where('userId', '=', userId).executeTakeFirst()
    if (found) return
    await executor
      .insertInto('plans')
      .values({ userId, createdAt: new Date().toISOString() })
      .onConflict((conflict) => conflict.column('userId').doNothing())
      .execute()
  }

  return {
    /** The user's plan, opened on first use; the balance and the list come from one transaction's snapshot. */
    async findPlan(userId: string): Promise<Plan> {
      await openPlan(db, userId)
      return db
        .transaction()
        .setIsolationLevel('repeatable read')
        .execute(async (trx) => {
          const { balanceCents } = await trx
            .selectFrom('contributions')
            .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('amountCents'), eb.lit(0)).as('balanceCents'))
            .where('userId', '=', userId)
            .executeTakeFirstOrThrow()
          const contributions = await trx
            .selectFrom('contributions')
            .select(['id', 'amountCents', 'createdAt'])
            .where('userId', '=', userId)
            .orderBy('sequence', 'desc')
            .execute()
          // PostgreSQL's sum() of integers is a bigint, which openDatabase reads back as a number.
          return { balanceCents, contributions }
        })
    },

    /** Saves one contribution, opening the plan if needed; the plan and the contribution commit together. */
    async addContribution(userId: string, amountCents: number): Promise<Contribution> {
      return db.transaction().execute(async (trx) => {
        await openPlan(trx, userId)
        // The plan's row counter hands out the order; on PostgreSQL the row stays locked until this commits.
        const { contributionCount } = await trx
          .updateTable('plans')
          .set((eb) => ({ contributionCount: eb('contributionCount', '+', 1) }))
          .where('userId', '=', userId)
          .returning('contributionCount')
          .executeTakeFirstOrThrow()
        const contribution = { id: randomUUID(), amountCents, createdAt: new Date().toISOString() }
        await trx
          .insertInto('contributions')
          .values({ ...contribution, userId, sequence: contributionCount })
          .execute()
        return contribution
      })
    },
  }
}
export type PlansRepository = ReturnType<typeof createPlansRepository>
