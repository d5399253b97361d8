import { randomUUID } from 'node:crypto'
import { databaseNowMs, type OpenedDatabase } from '@sso/shared/db'
import type { Kysely } from 'kysely'
import type { RetirementDatabase } from '../db/retirement-database.js'

/** The largest single contribution, in cents ($1,000,000.00); the table's CHECK enforces it too. */
export const MAX_CONTRIBUTION_CENTS = 100_000_000
/** The most contributions a plan answer, or one page of them, lists: the newest first. */
export const CONTRIBUTIONS_PER_PAGE = 100

/** How many contributions one user may add within any `windowMs`, the JSON API and the form together. */
export interface ContributionLimit {
  maxContributions: number
  windowMs: number
}
/** docs/spec.md#retirement: 30 a minute. */
export const CONTRIBUTION_LIMIT: ContributionLimit = { maxContributions: 30, windowMs: 60_000 }

export interface Contribution {
  id: string
  amountCents: number
  /** ISO 8601, UTC. */
  createdAt: string
}

/** Some of a plan's contributions, newest first, and whether there are older ones. */
export interface ContributionsPage {
  contributions: Contribution[]
  /** True when contributions older than the last one listed exist: ask for the page before the last one's id. */
  more: boolean
}

/** A plan as it is shown: the balance of all its contributions, and the newest of them. */
export interface Plan extends ContributionsPage {
  balanceCents: number
}

export type AddOutcome =
  | { kind: 'added'; contribution: Contribution }
  | { kind: 'throttled'; retryAfterSeconds: number }

type Executor = Kysely<RetirementDatabase>

/** Thrown inside the transaction only to roll it back; `addContribution` turns it into its `throttled` outcome. */
class LimitReached extends Error {
  constructor(readonly retryAfterMs: number) {
    super('contribution limit reached')
  }
}

export function createPlansRepository({ db, engine }: OpenedDatabase<RetirementDatabase>) {
  const { maxContributions, windowMs } = CONTRIBUTION_LIMIT
  const now = databaseNowMs(engine)

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

  /** Up to a page of the user's contributions with a sequence below `beforeSequence` (all of them when undefined). */
  async function listPage(executor: Executor, userId: string, beforeSequence?: number): Promise<ContributionsPage> {
    // One row more than a page says whether there are older ones, without counting them.
    const rows = await executor
      .selectFrom('contributions')
      .select(['id', 'amountCents', 'createdAt'])
      .where('userId', '=', userId)
      .$if(beforeSequence !== undefined, (query) => query.where('sequence', '<', beforeSequence!))
      .orderBy('sequence', 'desc')
      .limit(CONTRIBUTIONS_PER_PAGE + 1)
      .execute()
    return { contributions: rows.slice(0, CONTRIBUTIONS_PER_PAGE), more: rows.length > CONTRIBUTIONS_PER_PAGE }
  }

  return {
    /**
     * The user's plan, opened on first use: the balance of every contribution (summed by the database) and the newest
     * page of them, from one transaction's snapshot.
     */
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
          // PostgreSQL's sum() of integers is a bigint, which openDatabase reads back as a number.
          return { balanceCents, ...(await listPage(trx, userId)) }
        })
    },

    /**
     * The page of the user's contributions older than their contribution `beforeId`, or `undefined` when `beforeId`
     * is none of theirs (another user's id and an unknown one look the same).
     */
    async findContributionsBefore(userId: string, beforeId: string): Promise<ContributionsPage | undefined> {
      const before = await db
        .selectFrom('contributions')
        .select('sequence')
        .where('id', '=', beforeId)
        .where('userId', '=', userId)
        .executeTakeFirst()
      // A contribution's sequence never changes, so the second read needs no snapshot shared with the first.
      return before && listPage(db, userId, before.sequence)
    },

    /**
     * Saves one contribution, opening the plan if needed, unless the user has added `maxContributions` within the
     * last `windowMs` by the database's clock; the plan and the contribution commit together.
     *
     * The limit is exact on any number of replicas: the plan row's counter is taken first, an UPDATE that PostgreSQL
     * holds locked until commit, so one user's additions run one at a time; the check that follows is a new statement
     * (READ COMMITTED), so it sees every contribution committed before the lock was granted. (A single conditional
     * UPDATE would not do: a waiting UPDATE rechecks only its own row, and reads the contributions table as of before
     * it waited.) On SQLite one connection runs one transaction at a time. The check reads one row: the
     * `maxContributions`th addition before this one, by sequence. If that was inside the window, this one would be
     * one too many; otherwise no window of `windowMs` holds more than `maxContributions`, at its edges included,
     * which a counter per fixed window cannot promise (it allows twice as many across a boundary).
     */
    async addContribution(userId: string, amountCents: number): Promise<AddOutcome> {
      try {
        const contribution = await db.transaction().execute(async (trx) => {
          await openPlan(trx, userId)
          const { contributionCount } = await trx
            .updateTable('plans')
            .set((eb) => ({ contributionCount: eb('contributionCount', '+', 1) }))
            .where('userId', '=', userId)
            .returning('contributionCount')
            .executeTakeFirstOrThrow()
          const { nowMs, windowOpenedAtMs } = await trx
            .selectNoFrom((eb) => [
              now.as('nowMs'),
              eb
                .selectFrom('contributions')
                .select('addedAtMs')
                .where('userId', '=', userId)
                .where('sequence', '=', contributionCount - maxContributions)
                .as('windowOpenedAtMs'),
            ])
            .executeTakeFirstOrThrow()
          // Throwing rolls the counter back: a refused contribution leaves nothing behind.
          if (windowOpenedAtMs !== null && windowOpenedAtMs > nowMs - windowMs) {
            throw new LimitReached(windowOpenedAtMs + windowMs - nowMs)
          }
          // Its time is the database's too, so the list reads in the order the limit counted, whichever replica wrote.
          const added = { id: randomUUID(), amountCents, createdAt: new Date(nowMs).toISOString() }
          await trx
            .insertInto('contributions')
            .values({ ...added, userId, sequence: contributionCount, addedAtMs: nowMs })
            .execute()
          return added
        })
        return { kind: 'added', contribution }
      } catch (error) {
        if (!(error instanceof LimitReached)) throw error
        return { kind: 'throttled', retryAfterSeconds: Math.max(1, Math.ceil(error.retryAfterMs / 1000)) }
      }
    },
  }
}
export type PlansRepository = ReturnType<typeof createPlansRepository>
