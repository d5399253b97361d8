import { fileURLToPath } from 'node:url'
import { openDatabase } from '@sso/shared'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createPlansRepository, type PlansRepository } from './plans-repository.js'

const migrationsDir = fileURLToPath(new URL('../../migrations', import.meta.url))
const userId = '0b5c2f7e-8d4a-4c1b-9e3f-2a6d8c0e4f11'

let db: ReturnType<typeof openDatabase>
let plans: PlansRepository
beforeEach(() => {
  db = openDatabase(':memory:', migrationsDir)
  plans = createPlansRepository(db)
})
afterEach(() => {
  db.close()
})

describe('plans repository', () => {
  it('opens a plan once, on first use', () => {
    expect(plans.findPlan(userId)).toEqual({ balanceCents: 0, contributions: [] })
    plans.findPlan(userId)
    expect(db.prepare('SELECT COUNT(*) AS n FROM plans').get()).toEqual({ n: 1 })
  })

  it('keeps amounts in integer cents and sums them exactly', () => {
    for (const amountCents of [10, 20, 30_000_001]) plans.addContribution(userId, amountCents)
    expect(plans.findPlan(userId).balanceCents).toBe(30_000_031)
  })

  it('lets the table refuse amounts outside 1..100000000 and fractions, whatever the caller checked', () => {
    for (const amountCents of [0, -1, 100_000_001, 1.5]) {
      expect(() => plans.addContribution(userId, amountCents)).toThrow()
    }
    expect(plans.findPlan(userId).contributions).toEqual([])
  })
})
