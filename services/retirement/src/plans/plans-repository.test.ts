import { type OpenedDatabase, openDatabase } from '@sso/shared/db'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import { retirementMigrations } from '../db/migrations/index.js'
import type { RetirementDatabase } from '../db/retirement-database.js'
import { createPlansRepository, type PlansRepository } from './plans-repository.js'

const userId = '0b5c2f7e-8d4a-4c1b-9e3f-2a6d8c0e4f11'

describeEachEngine('plans repository', (engine) => {
  let database: OpenedDatabase<RetirementDatabase>
  let plans: PlansRepository
  beforeEach(async () => {
    const settings = await engine.createDatabase(retirementMigrations)
    database = await openDatabase<RetirementDatabase>({ ...settings, migrations: retirementMigrations })
    plans = createPlansRepository(database.db)
  })
  afterEach(async () => {
    await database.db.destroy()
  })

  it('opens a plan once, on first use', async () => {
    expect(await plans.findPlan(userId)).toEqual({ balanceCents: 0, contributions: [] })
    await plans.findPlan(userId)
    expect(await database.db.selectFrom('plans').select('userId').execute()).toEqual([{ userId }])
  })

  it('keeps amounts in integer cents and sums them exactly', async () => {
    for (const amountCents of [10, 20, 30_000_001]) await plans.addContribution(userId, amountCents)
    expect((await plans.findPlan(userId)).balanceCents).toBe(30_000_031)
  })

  it('lists contributions newest first, even when they share a millisecond', async () => {
    const added = []
    for (const amountCents of [1, 2, 3, 4, 5]) added.push(await plans.addContribution(userId, amountCents))
    expect((await plans.findPlan(userId)).contributions).toEqual(added.reverse())
  })

  it('numbers parallel contributions to one plan without a clash, and loses none', async () => {
    const added = await Promise.all(Array.from({ length: 20 }, (_, index) => plans.addContribution(userId, index + 1)))
    const plan = await plans.findPlan(userId)
    expect(plan.balanceCents).toBe(210)
    expect(plan.contributions.map((contribution) => contribution.id).sort()).toEqual(
      added.map((contribution) => contribution.id).sort(),
    )
  })

  it('lets the table refuse amounts outside 1..100000000 and fractions, whatever the caller checked', async () => {
    for (const amountCents of [0, -1, 100_000_001, 1.5]) {
      await expect(plans.addContribution(userId, amountCents)).rejects.toThrow()
    }
    expect((await plans.findPlan(userId)).contributions).toEqual([])
  })
})
