import { ConflictError, ServerBusyError } from '@sso/shared'
import type { FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import type { AccountsRepository } from '../accounts/accounts-repository.js'
import type { BankDatabase } from '../db/bank-database.js'
import type { BankSecurityEvents } from '../security-events.js'
import type { Credentials } from './credentials.js'
import type { PasswordHasher } from './password.js'
import { isUniqueViolation, type User, type UsersRepository } from './users-repository.js'

interface RegistrationDependencies {
  db: Kysely<BankDatabase>
  users: UsersRepository
  accounts: AccountsRepository
  passwords: PasswordHasher
  events: Pick<BankSecurityEvents, 'userRegistered' | 'registrationRefused' | 'passwordWorkRefused'>
}

function newUsernameTakenError() {
  return new ConflictError('That username is already taken')
}

/** Sign-up, for the JSON API and the form alike: a user and their checking account, or neither. */
export function createRegistration({ db, users, accounts, passwords, events }: RegistrationDependencies) {
  const usernameTaken = () => {
    events.registrationRefused('taken')
    return newUsernameTakenError()
  }
  return async function register({ username, password }: Credentials, request: FastifyRequest): Promise<User> {
    // Checked first to spare the argon2 work; the UNIQUE constraint still decides when two sign-ups race.
    if (await users.findByUsername(username)) throw usernameTaken()
    // Hashed before the transaction opens: no transaction waits for argon2.
    let passwordHash: string
    try {
      passwordHash = await passwords.hash(password)
    } catch (error) {
      if (error instanceof ServerBusyError) events.passwordWorkRefused(false)
      throw error
    }
    let user: User
    try {
      user = await db.transaction().execute(async (trx) => {
        const inserted = await users.insert(username, passwordHash, trx)
        await accounts.openCheckingAccount(inserted.id, trx)
        return inserted
      })
    } catch (error) {
      if (isUniqueViolation(error)) throw usernameTaken()
      throw error
    }
    events.userRegistered(request, user.id)
    return user
  }
}
export type Register = ReturnType<typeof createRegistration>
