import { databaseNowMs, type OpenedDatabase } from '@sso/shared/db'
import type { BankDatabase } from '../db/bank-database.js'

// Read-only reports for the operator, across tables. They live here rather than in the service's repositories so the
// running bank carries none of them; every write the admin command makes goes through those repositories.

/** A user as `users:list` shows it: never the password hash. */
export interface UserSummary {
  id: string
  username: string
  createdAtMs: number
  /** Sessions neither revoked nor past their lifetime. */
  liveSessions: number
}

/** The notices waiting for one back-channel URL. */
export interface OutboxUrlStatus {
  url: string
  pending: number
  /** Claimed by a delivery worker whose lease has not run out (database clock): being posted right now. */
  beingDelivered: number
  /** Tried at least once without a 2xx answer: the receiver is down or refusing. */
  retrying: number
  maxAttempts: number
  oldestCreatedAtMs: number
}

export function createAdminReports({ db, engine }: OpenedDatabase<BankDatabase>) {
  return {
    /** Every user, by username, with the number of their live sessions. */
    listUsers(nowMs: number): Promise<UserSummary[]> {
      return db
        .selectFrom('users')
        .leftJoin('loginSessions', (join) =>
          join
            .onRef('loginSessions.userId', '=', 'users.id')
            .on('loginSessions.revokedAt', 'is', null)
            .on('loginSessions.expiresAt', '>', nowMs),
        )
        .select((eb) => [
          'users.id',
          'users.username',
          'users.createdAt as createdAtMs',
          eb.fn.count<number>('loginSessions.id').as('liveSessions'),
        ])
        .groupBy(['users.id', 'users.username', 'users.createdAt'])
        .orderBy('users.username')
        .execute()
    },

    /** The logout outbox per URL; an empty list when every notice has been delivered or given up. */
    outboxStatus(): Promise<OutboxUrlStatus[]> {
      const now = databaseNowMs(engine)
      return db
        .selectFrom('logoutOutbox')
        .select((eb) => [
          'url',
          eb.fn.countAll<number>().as('pending'),
          eb.fn.sum<number>(eb.case().when('leasedUntil', '>', now).then(1).else(0).end()).as('beingDelivered'),
          eb.fn.sum<number>(eb.case().when('attempts', '>', 0).then(1).else(0).end()).as('retrying'),
          eb.fn.max<number>('attempts').as('maxAttempts'),
          eb.fn.min<number>('createdAt').as('oldestCreatedAtMs'),
        ])
        .groupBy('url')
        .orderBy('url')
        .execute()
    },
  }
}
export type AdminReports = ReturnType<typeof createAdminReports>
