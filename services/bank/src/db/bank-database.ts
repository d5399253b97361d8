import type { Generated } from 'kysely'

// The bank's tables as Kysely sees them: camelCase here, snake_case in SQL (openDatabase installs CamelCasePlugin).
// Times are milliseconds since the Unix epoch; on PostgreSQL they are bigint, read back as numbers.

export interface UsersTable {
  id: string
  username: string
  passwordHash: string
  createdAt: number
}

export interface AccountsTable {
  id: string
  userId: string
  name: string
  balanceCents: Generated<number>
  createdAt: number
}

export interface LoginSessionsTable {
  /** The access tokens' `sid`. */
  id: string
  userId: string
  /** SHA-256 of the current refresh token. */
  refreshTokenHash: Buffer
  createdAt: number
  lastUsedAt: number
  expiresAt: number
  revokedAt: number | null
  userAgent: string | null
  generation: Generated<number>
  previousTokenHash: Buffer | null
  rotatedAt: number | null
  successorBox: Buffer | null
}

export interface LoginThrottleTable {
  username: string
  attempts: number
  lastAttemptAt: number
}

export interface RateLimitWindowsTable {
  key: string
  hits: number
  windowStartedAt: number
}

export interface LogoutOutboxTable {
  id: Generated<number>
  url: string
  sessionId: string | null
  userId: string
  createdAt: number
  attempts: Generated<number>
  nextAttemptAt: number
  giveUpAt: number
  /** While in the future (database clock), `claimedBy` is delivering the notice; NULL: not claimed. */
  leasedUntil: number | null
  claimedBy: string | null
}

export interface BankDatabase {
  users: UsersTable
  accounts: AccountsTable
  loginSessions: LoginSessionsTable
  loginThrottle: LoginThrottleTable
  logoutOutbox: LogoutOutboxTable
  rateLimitWindows: RateLimitWindowsTable
}
