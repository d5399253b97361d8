import { randomUUID } from 'node:crypto'
import type { Database } from '@sso/shared'

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

export function createPlansRepository(db: Database) {
  const selectPlanExists = db.prepare<[string], { found: number }>('SELECT 1 AS found FROM plans WHERE user_id = ?')
  const insertPlan = db.prepare<[string, string]>(
    'INSERT INTO plans (user_id, created_at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING',
  )
  const selectBalance = db.prepare<[string], { balanceCents: number }>(
    'SELECT COALESCE(SUM(amount_cents), 0) AS balanceCents FROM contributions WHERE user_id = ?',
  )
  const selectContributions = db.prepare<[string], Contribution>(
    `SELECT id, amount_cents AS amountCents, created_at AS createdAt FROM contributions
     WHERE user_id = ? ORDER BY created_at DESC, rowid DESC`,
  )
  const insertContribution = db.prepare<[string, string, number, string]>(
    'INSERT INTO contributions (id, user_id, amount_cents, created_at) VALUES (?, ?, ?, ?)',
  )

  // Reading a plan writes only the first time, so ordinary page views never take SQLite's write lock.
  function openPlan(userId: string) {
    if (!selectPlanExists.get(userId)) insertPlan.run(userId, new Date().toISOString())
  }

  // One transaction each: the balance and the list are read from the same snapshot, and a contribution never
  // exists without its plan.
  const findPlan = db.transaction((userId: string): Plan => {
    openPlan(userId)
    return {
      balanceCents: selectBalance.get(userId)?.balanceCents ?? 0,
      contributions: selectContributions.all(userId),
    }
  })
  const addContribution = db.transaction((userId: string, amountCents: number): Contribution => {
    openPlan(userId)
    const contribution = { id: randomUUID(), amountCents, createdAt: new Date().toISOString() }
    insertContribution.run(contribution.id, userId, contribution.amountCents, contribution.createdAt)
    return contribution
  })

  return {
    /** The user's plan, opened on first use. */
    findPlan: (userId: string): Plan => findPlan(userId),
    /** Saves one contribution in its own transaction, opening the plan if needed. */
    addContribution: (userId: string, amountCents: number): Contribution =>
      addContribution.immediate(userId, amountCents),
  }
}
export type PlansRepository = ReturnType<typeof createPlansRepository>
