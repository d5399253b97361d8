import type { SchemaMigrations } from '@sso/shared/db'
import { usersAccounts } from './001-users-accounts.js'
import { loginThrottle } from './002-login-throttle.js'
import { logoutOutbox } from './003-logout-outbox.js'

/**
 * The bank's schema, for both engines, in the order the names sort. Add a migration, never edit one that has shipped.
 * TODO(sessions): login_sessions and its refresh tokens are being redesigned; their migration joins here.
 */
export const bankMigrations: SchemaMigrations = {
  '001-users-accounts': usersAccounts,
  '002-login-throttle': loginThrottle,
  '003-logout-outbox': logoutOutbox,
}
