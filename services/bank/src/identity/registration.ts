import { ConflictError, type Database } from '@sso/shared'
import type { AccountsRepository } from '../accounts/accounts-repository.js'
import type { Credentials } from './credentials.js'
import type { PasswordHasher } from './password.js'
import type { User, UsersRepository } from './users-repository.js'

interface RegistrationDependencies {
  db: Database
  users: UsersRepository
  accounts: AccountsRepository
  passwords: PasswordHasher
}

function newUsernameTakenError() {
  return new ConflictError('That username is already taken')
}

/** Sign-up, for the JSON API and the form alike: a user and their checking account, or neither. */
export function createRegistration({ db, users, accounts, passwords }: RegistrationDependencies) {
  const insertUserWithAccount = db.transaction((username: string, passwordHash: string) => {
    const user = users.insert(username, passwordHash)
    accounts.openCheckingAccount(user.id)
    return user
  })

  return async function register({ username, password }: Credentials): Promise<User> {
    // Checked first to spare the argon2 work; the UNIQUE constraint still decides when two sign-ups race.
    if (users.findByUsername(username)) throw newUsernameTakenError()
    const passwordHash = await passwords.hash(password)
    try {
      return insertUserWithAccount(username, passwordHash)
    } catch (error) {
      if ((error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw newUsernameTakenError()
      throw error
    }
  }
}
export type Register = ReturnType<typeof createRegistration>
