import type { LegacyMigrationVersions } from '@sso/shared/db'

/**
 * The earlier `.sql` runner's versions (src/db/legacy-sql/, kept as test fixtures) and the migrations that made the
 * same tables, so a SQLite file it made keeps its data (openDatabase baselines it once).
 */
export const retirementLegacyVersions: LegacyMigrationVersions = {
  1: ['001-plans-contributions'], // 001-plans-contributions.sql
  2: ['002-single-logout'], // 002-single-logout.sql
}
