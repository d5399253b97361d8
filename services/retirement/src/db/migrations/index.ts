import type { SchemaMigrations } from '@sso/shared/db'
import { plansContributions } from './001-plans-contributions.js'
import { singleLogout } from './002-single-logout.js'
import { contributionOrder } from './003-contribution-order.js'
import { revocationChanges } from './004-revocation-changes.js'
import { contributionLimit } from './005-contribution-limit.js'

export { retirementLegacyVersions } from './legacy-versions.js'

/** Retirement's schema, for both engines, in the order the names sort. Add a migration, never edit a shipped one. */
export const retirementMigrations: SchemaMigrations = {
  '001-plans-contributions': plansContributions,
  '002-single-logout': singleLogout,
  '003-contribution-order': contributionOrder,
  '004-revocation-changes': revocationChanges,
  '005-contribution-limit': contributionLimit,
}
