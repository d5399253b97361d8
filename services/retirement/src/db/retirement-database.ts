// Retirement's tables as Kysely sees them: camelCase here, snake_case in SQL (openDatabase installs CamelCasePlugin).

export interface PlansTable {
  userId: string
  createdAt: string // ISO 8601, UTC
}

export interface ContributionsTable {
  id: string
  userId: string
  amountCents: number
  createdAt: string // ISO 8601, UTC
}

/** Times in seconds since the Unix epoch, like the tokens' iat and exp. */
export interface RevokedSessionsTable {
  sessionId: string
  keepUntil: number
}

export interface RevokedUsersTable {
  userId: string
  issuedUpTo: number
  keepUntil: number
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
