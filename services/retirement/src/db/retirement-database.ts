import type { Generated } from 'kysely'

// Retirement's tables as Kysely sees them: camelCase here, snake_case in SQL (openDatabase installs CamelCasePlugin).

export interface PlansTable {
  userId: string
  createdAt: string // ISO 8601, UTC
  /** How many contributions the plan has had: the last one's `sequence`. */
  contributionCount: Generated<number>
}

export interface ContributionsTable {
  id: string
  userId: string
  amountCents: number
  createdAt: string // ISO 8601, UTC
  /** 1, 2, 3… per plan, in the order they were added. */
  sequence: number
  /** When it was added, in milliseconds since the epoch by the database's clock (0 for rows from before the limit). */
  addedAtMs: Generated<number>
}

/** Times in seconds since the Unix epoch, like the tokens' iat and exp. */
export interface RevokedSessionsTable {
  sessionId: string
  keepUntil: number
  /** PostgreSQL only: the transaction that last changed the row (xid8, as text), for the replicas' polls. */
  changedXid: Generated<string>
}

export interface RevokedUsersTable {
  userId: string
  issuedUpTo: number
  keepUntil: number
  /** PostgreSQL only, as in revoked_sessions. */
  changedXid: Generated<string>
}

export interface SeenLogoutTokensTable {
  jti: string
  keepUntil: number
}

export interface RetirementDatabase {
  plans: PlansTable
  contributions: ContributionsTable
  revokedSessions: RevokedSessionsTable
  revokedUsers: RevokedUsersTable
  seenLogoutTokens: SeenLogoutTokensTable
}
