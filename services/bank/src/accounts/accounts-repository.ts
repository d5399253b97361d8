import { randomUUID } from 'node:crypto'
import type { Database } from '@sso/shared'

export interface Account {
  id: string
  name: string
  balanceCents: number
}

/** The accounts table; balances are integer cents, never floating point. */
export function createAccountsRepository(db: Database) {
  const selectByUser = db.prepare<[string], Account>(
    'SELECT id, name, balance_cents AS balanceCents FROM accounts WHERE user_id = ? ORDER BY created_at, id',
  )
  const insert = db.prepare<[string, string, string, number]>(
    'INSERT INTO accounts (id, user_id, name, balance_cents, created_at) VALUES (?, ?, ?, 0, ?)',
  )
  return {
    listForUser: (userId: string) => selectByUser.all(userId),
    /** Every user gets one at registration, in the same transaction as the user row. */
    openCheckingAccount(userId: string): Account {
      const account = { id: randomUUID(), name: 'Checking', balanceCents: 0 }
      insert.run(account.id, userId, account.name, Date.now())
      return account
    },
  }
}
export type AccountsRepository = ReturnType<typeof createAccountsRepository>
