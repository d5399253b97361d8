import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { BankDatabase } from '../db/bank-database.js'

export interface Account {
  id: string
  name: string
  balanceCents: number
}

/** The accounts table; balances are integer cents, never floating point. */
export function createAccountsRepository(db: Kysely<BankDatabase>) {
  return {
    listForUser: (userId: string): Promise<Account[]> =>
      db
        .selectFrom('accounts')
        .select(['id', 'name', 'balanceCents'])
        .where('userId', '=', userId)
        .orderBy('createdAt')
        .orderBy('id')
        .execute(),
    /** Every user gets one at registration, in the same transaction as the user row (`executor`). */
    async openCheckingAccount(userId: string, executor: Kysely<BankDatabase> = db): Promise<Account> {
      const account = { id: randomUUID(), name: 'Checking', balanceCents: 0 }
      await executor
        .insertInto('accounts')
        .values({ ...account, userId, createdAt: Date.now() })
        .execute()
      return account
    },
  }
}
export type AccountsRepository = ReturnType<typeof createAccountsRepository>
