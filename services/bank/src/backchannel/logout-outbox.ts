import { CLOCK_TOLERANCE_SECONDS } from '@sso/shared'
import { databaseNowMs, type OpenedDatabase } from '@sso/shared/db'
import { type Kysely, sql } from 'kysely'
import type { BankDatabase } from '../db/bank-database.js'

/** A login session that has just been revoked: the subject of a logout notice. */
export interface EndedSession {
  /** The access tokens' `sid`. */
  id: string
  userId: string
}

/** One notice still to be delivered to one back-channel URL. */
export interface PendingNotice {
  id: number
  url: string
  /** Null: every session of the user (a logout token with `sub` alone). */
  sessionId: string | null
  userId: string
  attempts: number
  /** Milliseconds since the epoch; past it, every access token the notice is about has expired anyway. */
  giveUpAt: number
}

/** A notice one worker holds: no other worker takes it until `leasedUntil` (the database's clock) has passed. */
export interface ClaimedNotice extends PendingNotice {
  claimedBy: string
  /** Also names this very claim: a later claim of the same notice always leases it until later. */
  leasedUntil: number
}

/** What a delivery worker asks for when it looks for work. */
export interface ClaimRequest {
  /** The worker's clock: notices whose `next_attempt_at` has come. */
  now: number
  limit: number
  /** How long the claimed notices are the worker's alone, on the database's clock. */
  leaseMs: number
  /** Who claims (stored in `claimed_by`, so an operator sees which replica holds a notice). */
  claimant: string
}

/**
 * The single-logout outbox: notices are written in the revocation's own transaction (so neither can exist without
 * the other), and delivery workers, on any number of replicas, claim, retry and delete them.
 */
export function createLogoutOutbox(
  { db, engine }: OpenedDatabase<BankDatabase>,
  { urls, accessTokenTtlSeconds }: { urls: readonly string[]; accessTokenTtlSeconds: number },
) {
  // A revoked session's last access token was issued no later than the revocation, and lives at most this long.
  const usefulForMs = (accessTokenTtlSeconds + CLOCK_TOLERANCE_SECONDS) * 1000
  const listeners = new Set<() => void>()

  return {
    /**
     * Queues one notice per back-channel URL for each ended session, in the revocation's own transaction (`trx`), so
     * neither commits without the other. Call {@link announce} once that transaction has committed.
     */
    async enqueue(trx: Kysely<BankDatabase>, ended: readonly EndedSession[], revokedAt: number): Promise<void> {
      const notices = ended.flatMap((session) =>
        urls.map((url) => ({
          url,
          sessionId: session.id,
          userId: session.userId,
          createdAt: revokedAt,
          nextAttemptAt: revokedAt,
          giveUpAt: revokedAt + usefulForMs,
        })),
      )
      if (notices.length > 0) await trx.insertInto('logoutOutbox').values(notices).execute()
    },
    /** Tells the listeners that notices were committed, so delivery need not wait for its next tick. */
    announce() {
      for (const listener of listeners) listener()
    },
    /**
     * Claims up to `limit` due notices, oldest first, that no live lease holds, and leases them to `claimant`: one
     * statement, so the claim has committed when it returns and delivery runs outside any transaction. On PostgreSQL
     * `FOR UPDATE SKIP LOCKED` lets replicas claim at the same time without waiting for each other or taking the same
     * row (a row another claim has just taken is skipped, or re-checked against its new lease once that claim has
     * committed); SQLite has one writer, so the statement alone is enough. The lease is timed by the database's
     * clock, the one all replicas share: a replica whose clock runs ahead cannot take a notice from a live holder.
     * Once a lease has run out (the worker died mid-delivery) the notice is claimable again: delivered at least once.
     */
    async claimDue({ now, limit, leaseMs, claimant }: ClaimRequest): Promise<ClaimedNotice[]> {
      const databaseNow = databaseNowMs(engine)
      const claimed = await db
        .updateTable('logoutOutbox')
        .set({ leasedUntil: sql<number>`${databaseNow} + ${leaseMs}`, claimedBy: claimant })
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('logoutOutbox')
            .select('id')
            .where('nextAttemptAt', '<=', now)
            .where((free) => free.or([free('leasedUntil', 'is', null), free('leasedUntil', '<=', databaseNow)]))
            .orderBy('nextAttemptAt')
            .orderBy('id')
            .limit(limit)
            .$if(engine === 'postgres', (query) => query.forUpdate().skipLocked()),
        )
        .returning(['id', 'url', 'sessionId', 'userId', 'attempts', 'giveUpAt', 'leasedUntil', 'claimedBy'])
        .execute()
      return claimed
        .map((notice) => ({ ...notice, leasedUntil: notice.leasedUntil ?? 0, claimedBy: notice.claimedBy ?? '' }))
        .sort((a, b) => a.id - b.id)
    },
    /**
     * Delivered (2xx) or given up: the notice is gone. By id alone, whoever holds it by then: a delivered notice
     * needs no further attempt, and the holder's own outcome then finds nothing to change. Idempotent.
     */
    async remove(id: number): Promise<boolean> {
      const { numDeletedRows } = await db.deleteFrom('logoutOutbox').where('id', '=', id).executeTakeFirst()
      return numDeletedRows > 0n
    },
    /**
     * A failed attempt: counted, the claim ended, tried again from `nextAttemptAt`. Only while `notice`'s claim is
     * still the notice's current one (false otherwise): a worker whose lease ran out must not undo its successor's.
     */
    async scheduleRetry(notice: ClaimedNotice, attempts: number, nextAttemptAt: number): Promise<boolean> {
      const { numUpdatedRows } = await whileClaimed(notice)
        .set({ attempts, nextAttemptAt, leasedUntil: null, claimedBy: null })
        .executeTakeFirst()
      return numUpdatedRows > 0n
    },
    /** Gives a claimed notice back untried (the worker is stopping): any worker may take it at once. */
    async release(notice: ClaimedNotice): Promise<boolean> {
      const { numUpdatedRows } = await whileClaimed(notice)
        .set({ leasedUntil: null, claimedBy: null })
        .executeTakeFirst()
      return numUpdatedRows > 0n
    },
    /** How many notices wait, for tests and logs. */
    async countPending(): Promise<number> {
      const { count } = await db
        .selectFrom('logoutOutbox')
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .executeTakeFirstOrThrow()
      return count
    },
    /**
     * The backlog, for the metrics: how many notices wait and when the oldest was written (its revocation). One
     * aggregate over a table that holds only undelivered notices, so it stays small; run once per scrape.
     */
    async readBacklog(): Promise<{ pending: number; oldestCreatedAtMs: number | undefined }> {
      const row = await db
        .selectFrom('logoutOutbox')
        .select((eb) => [eb.fn.countAll().as('pending'), eb.fn.min('createdAt').as('oldestCreatedAt')])
        .executeTakeFirstOrThrow()
      // Aggregates' types differ by engine and driver (count is a bigint on PostgreSQL): numbers either way.
      const oldest = row.oldestCreatedAt === null ? undefined : Number(row.oldestCreatedAt)
      return { pending: Number(row.pending), oldestCreatedAtMs: oldest }
    },
    /** Calls `listener` after each committed enqueue that was announced. */
    onEnqueued(listener: () => void) {
      listeners.add(listener)
    },
  }

  function whileClaimed(notice: ClaimedNotice) {
    return db
      .updateTable('logoutOutbox')
      .where('id', '=', notice.id)
      .where('claimedBy', '=', notice.claimedBy)
      .where('leasedUntil', '=', notice.leasedUntil)
  }
}
export type LogoutOutbox = ReturnType<typeof createLogoutOutbox>
