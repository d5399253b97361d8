import { ConflictError } from '@sso/shared'
import type { Kysely } from 'kysely'
import type { AccountsRepository } from '../accounts/accounts-repository.js'
import type { BankDatabase } from '../db/bank-database.js'
import type { Credentials } from './credentials.js'
import type { PasswordHasher } from './password.js'
import { isUniqueViolation, type User, type UsersRepository } from './users-repository.js'

interface RegistrationDependencies {
  db: Kysely<BankDatabase>
  users: UsersRepository
  accounts: AccountsRepository
  passwords: PasswordHasher
}

function newUsernameTakenError() {
  return new ConflictError('That username is already taken')
}

/** Sign-up, for the JSON API and the form alike: a user and their checking account, or neither. */
export function createRegistration({ db, users, accounts, passwords }: RegistrationDependencies) {
  return async function register({ username, password }: Credentials): Promise<User> {
    // Checked first to spare the argon2 work; the UNIQUE constraint still decides when two sign-ups race.
    if (await users.findByUsername(username)) throw newUsernameTakenError()
    // Hashed before the transaction opens: no transaction waits for argon2.
    const passwordHash = await passwords.hash(password)
    try {
      return await db.transaction().execute(async (trx) => {
        const user = await users.insert(username, passwordHash, trx)
        await accounts.openCheckingAccount(user.id, trx)
        return user
      })
    } catch (error) {
      if (isUniqueViolation(error)) throw newUsernameTakenError()
      throw error
    }
  }
}
export type Register = ReturnType<typeof createRegistration>
