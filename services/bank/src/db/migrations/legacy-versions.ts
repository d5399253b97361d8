import type { LegacyMigrationVersions } from '@sso/shared/db'

/**
 * The earlier `.sql` runner's versions (src/db/legacy-sql/, kept as test fixtures) and the migrations that made the
 * same tables, so a SQLite file it made keeps its data (openDatabase baselines it once).
 */
export const bankLegacyVersions: LegacyMigrationVersions = {
  1: ['001-users-accounts', '002-login-throttle', '003-login-sessions'], // 001-users-sessions-accounts.sql
  2: ['004-logout-outbox'], // 002-single-logout.sql
  3: ['005-bounded-refresh-sessions'], // 003-bounded-refresh-sessions.sql
}
