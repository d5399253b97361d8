import type { SchemaMigrations } from '@sso/shared/db'
import { usersAccounts } from './001-users-accounts.js'
import { loginThrottle } from './002-login-throttle.js'
import { loginSessions } from './003-login-sessions.js'
import { logoutOutbox } from './004-logout-outbox.js'
import { boundedRefreshSessions } from './005-bounded-refresh-sessions.js'
import { rateLimitWindows } from './006-rate-limit-windows.js'
import { logoutOutboxLeases } from './007-logout-outbox-leases.js'

export { bankLegacyVersions } from './legacy-versions.js'

/**
 * The bank's schema, for both engines, in the order the names sort. Add a migration, never edit one that has shipped.
 * 001–005 are the old .sql files translated, in their order (legacy-versions.ts maps a file those made onto these names).
 */
export const bankMigrations: SchemaMigrations = {
  '001-users-accounts': usersAccounts,
  '002-login-throttle': loginThrottle,
  '003-login-sessions': loginSessions,
  '004-logout-outbox': logoutOutbox,
  '005-bounded-refresh-sessions': boundedRefreshSessions,
  '006-rate-limit-windows': rateLimitWindows,
  '007-logout-outbox-leases': logoutOutboxLeases,
}
