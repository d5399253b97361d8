import { type OpenedDatabase, openDatabase } from '@sso/shared/db'
import { sql } from 'kysely'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import { retirementMigrations } from '../db/migrations/index.js'
import type { RetirementDatabase } from '../db/retirement-database.js'
import {
  type AddOutcome,
  CONTRIBUTION_LIMIT,
  CONTRIBUTIONS_PER_PAGE,
  createPlansRepository,
  type PlansRepository,
} from './plans-repository.js'

const userId = '0b5c2f7e-8d4a-4c1b-9e3f-2a6d8c0e4f11'
const otherUserId = '7d0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b'
const { maxContributions, windowMs } = CONTRIBUTION_LIMIT

function added(outcome: AddOutcome) {
  if (outcome.kind !== 'added') throw new Error(`expected the contribution to be added, got ${outcome.kind}`)
  return outcome.contribution
}

describeEachEngine('plans repository', (engine) => {
  let database: OpenedDatabase<RetirementDatabase>
  let plans: PlansRepository
  beforeEach(async () => {
    const settings = await engine.createDatabase(retirementMigrations)
    database = await openDatabase<RetirementDatabase>({ ...settings, migrations: retirementMigrations })
    plans = createPlansRepository(database)
  })
  afterEach(async () => {
    await database.db.destroy()
  })

  /** Moves every contribution of the user `ms` into the past, as if the database's clock had run on. */
  async function ageContributions(ms: number) {
    await database.db
      .updateTable('contributions')
      .set({ addedAtMs: sql`added_at_ms - ${ms}` })
      .where('userId', '=', userId)
      .execute()
  }

  /** Adds `count` contributions of 1, 2, 3… cents, past the limit: each window's worth is aged out of the window. */
  async function addMany(count: number) {
    const all = []
    for (let index = 0; index < count; index++) {
      if (index > 0 && index % maxContributions === 0) await ageContributions(windowMs)
      all.push(added(await plans.addContribution(userId, index + 1)))
    }
    return all
  }

  it('opens a plan once, on first use', async () => {
    expect(await plans.findPlan(userId)).toEqual({ balanceCents: 0, contributions: [], more: false })
    await plans.findPlan(userId)
    expect(await database.db.selectFrom('plans').select('userId').execute()).toEqual([{ userId }])
  })

  it('keeps amounts in integer cents and sums them exactly', async () => {
    for (const amountCents of [10, 20, 30_000_001]) await plans.addContribution(userId, amountCents)
    expect((await plans.findPlan(userId)).balanceCents).toBe(30_000_031)
  })

  it('lists contributions newest first, even when they share a millisecond', async () => {
    const all = []
    for (const amountCents of [1, 2, 3, 4, 5]) all.push(added(await plans.addContribution(userId, amountCents)))
    expect((await plans.findPlan(userId)).contributions).toEqual(all.reverse())
  })

  it('numbers parallel contributions to one plan without a clash, and loses none', async () => {
    const all = await Promise.all(Array.from({ length: 20 }, (_, index) => plans.addContribution(userId, index + 1)))
    const plan = await plans.findPlan(userId)
    expect(plan.balanceCents).toBe(210)
    expect(plan.contributions.map((contribution) => contribution.id).sort()).toEqual(
      all.map((outcome) => added(outcome).id).sort(),
    )
  })

  it('lets the table refuse amounts outside 1..100000000 and fractions, whatever the caller checked', async () => {
    for (const amountCents of [0, -1, 100_000_001, 1.5]) {
      await expect(plans.addContribution(userId, amountCents)).rejects.toThrow()
    }
    expect((await plans.findPlan(userId)).contributions).toEqual([])
  })

  it('lists the newest page of a plan, sums all of it, and pages through the rest to the first', async () => {
    const all = await addMany(2 * CONTRIBUTIONS_PER_PAGE + 5)
    const newestFirst = all.reverse()
    const plan = await plans.findPlan(userId)
    expect(plan.contributions).toEqual(newestFirst.slice(0, CONTRIBUTIONS_PER_PAGE))
    expect(plan.more).toBe(true)
    expect(plan.balanceCents).toBe((all.length * (all.length + 1)) / 2)

    const second = await plans.findContributionsBefore(userId, plan.contributions.at(-1)!.id)
    expect(second).toEqual({ contributions: newestFirst.slice(CONTRIBUTIONS_PER_PAGE, 200), more: true })
    const third = await plans.findContributionsBefore(userId, second!.contributions.at(-1)!.id)
    expect(third).toEqual({ contributions: newestFirst.slice(200), more: false })
    expect(await plans.findContributionsBefore(userId, third!.contributions.at(-1)!.id)).toEqual({
      contributions: [],
      more: false,
    })
  })

  it('says there are no more when the plan holds exactly one page', async () => {
    await addMany(CONTRIBUTIONS_PER_PAGE)
    const plan = await plans.findPlan(userId)
    expect(plan.contributions).toHaveLength(CONTRIBUTIONS_PER_PAGE)
    expect(plan.more).toBe(false)
  })

  it("pages only before the user's own contributions: another user's id or an unknown one finds nothing", async () => {
    const [mine] = await addMany(1)
    const theirs = added(await plans.addContribution(otherUserId, 1))
    expect(await plans.findContributionsBefore(userId, theirs.id)).toBeUndefined()
    expect(await plans.findContributionsBefore(userId, '00000000-0000-4000-8000-000000000000')).toBeUndefined()
    expect(await plans.findContributionsBefore(otherUserId, mine!.id)).toBeUndefined()
  })

  it(`refuses the contribution after ${maxContributions} within the window, saving nothing of it`, async () => {
    await addMany(maxContributions)
    const refused = await plans.addContribution(userId, 7)
    expect(refused).toEqual({ kind: 'throttled', retryAfterSeconds: expect.any(Number) })
    if (refused.kind === 'throttled') {
      expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1)
      expect(refused.retryAfterSeconds).toBeLessThanOrEqual(windowMs / 1000)
    }
    const plan = await plans.findPlan(userId)
    expect(plan.contributions).toHaveLength(maxContributions)
    expect(plan.balanceCents).toBe((maxContributions * (maxContributions + 1)) / 2)
    // The refused one took no sequence number: the next one allowed follows on without a gap.
    await ageContributions(windowMs)
    added(await plans.addContribution(userId, 7))
    const sequences = await database.db
      .selectFrom('contributions')
      .select('sequence')
      .where('userId', '=', userId)
      .orderBy('sequence')
      .execute()
    expect(sequences.map(({ sequence }) => sequence)).toEqual(
      Array.from({ length: maxContributions + 1 }, (_, index) => index + 1),
    )
  })

  it('counts a sliding window: only contributions leaving it free places, never a whole new budget', async () => {
    const half = maxContributions / 2
    const addHalf = async () => {
      for (let index = 0; index < half; index++) added(await plans.addContribution(userId, 1))
    }
    await addHalf()
    await ageContributions(windowMs - 1_000) // the first half is 59 s old, the second half new
    await addHalf()
    expect((await plans.addContribution(userId, 1)).kind).toBe('throttled')
    await ageContributions(2_000) // the first half has just left the window, the second half is 2 s old
    await addHalf()
    // A counter per fixed window, started by the first half, would have begun a new one here with a full budget.
    expect((await plans.addContribution(userId, 1)).kind).toBe('throttled')
  })

  it('limits each user on their own', async () => {
    await addMany(maxContributions)
    expect((await plans.addContribution(userId, 1)).kind).toBe('throttled')
    expect((await plans.addContribution(otherUserId, 1)).kind).toBe('added')
  })

  it(`lets exactly ${maxContributions} of many parallel contributions through, on a new plan too`, async () => {
    const outcomes = await Promise.all(
      Array.from({ length: maxContributions + 15 }, (_, index) => plans.addContribution(userId, index + 1)),
    )
    expect(outcomes.filter((outcome) => outcome.kind === 'added')).toHaveLength(maxContributions)
    expect(outcomes.filter((outcome) => outcome.kind === 'throttled')).toHaveLength(15)
    const stored = await database.db.selectFrom('contributions').select('id').where('userId', '=', userId).execute()
    expect(stored).toHaveLength(maxContributions)
  })

  it("timestamps contributions by the database's clock", async () => {
    const before = Date.now()
    const contribution = added(await plans.addContribution(userId, 1))
    const { addedAtMs } = await database.db
      .selectFrom('contributions')
      .select('addedAtMs')
      .where('id', '=', contribution.id)
      .executeTakeFirstOrThrow()
    expect(contribution.createdAt).toBe(new Date(addedAtMs).toISOString())
    // The same machine's clocks: the database's reading lies within this test's, give or take a second.
    expect(Math.abs(addedAtMs - before)).toBeLessThan(1_000)
  })
})
