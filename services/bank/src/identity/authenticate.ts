import { InvalidCredentialsError, ServerBusyError, TooManyAttemptsError, withRetryAfter } from '@sso/shared'
import type { FastifyRequest } from 'fastify'
import type { BankSecurityEvents } from '../security-events.js'
import type { Credentials } from './credentials.js'
import type { LoginThrottle } from './login-throttle.js'
import { type PasswordHasher, UNUSABLE_HASH } from './password.js'
import type { User, UsersRepository } from './users-repository.js'

interface AuthenticatorDependencies {
  users: UsersRepository
  throttle: LoginThrottle
  passwords: PasswordHasher
  /** Where refusals are recorded (audit line and metric); the success is recorded when the session opens. */
  events: Pick<BankSecurityEvents, 'loginFailed' | 'loginThrottled' | 'passwordWorkRefused'>
}

/** Checks a username and password, for the JSON login and the login form alike. */
export function createAuthenticator({ users, throttle, passwords, events }: AuthenticatorDependencies) {
  return async function authenticate({ username, password }: Credentials, request: FastifyRequest): Promise<User> {
    // Counted before the password is checked: a locked username answers 429 even to the right password.
    const attempt = await throttle.countAttempt(username)
    if (!attempt.allowed) {
      events.loginThrottled(request, 'username')
      throw withRetryAfter(new TooManyAttemptsError(String(attempt.retryAfterSeconds)), attempt.retryAfterSeconds)
    }
    const user = await users.findByUsername(username)
    // Hash even for unknown usernames so response time doesn't reveal which accounts exist.
    let passwordMatches: boolean
    try {
      passwordMatches = await passwords.verify(user?.passwordHash ?? UNUSABLE_HASH, password)
    } catch (error) {
      // Refused with 503 before any password was checked: counting it would let anyone who can load the server
      // lock other people's usernames without guessing at all.
      if (error instanceof ServerBusyError) {
        await throttle.uncountAttempt(username)
        events.passwordWorkRefused(true)
      }
      throw error
    }
    if (!user || !passwordMatches) {
      events.loginFailed(request, user?.id)
      throw new InvalidCredentialsError()
    }
    await throttle.clearFailures(username)
    return user
  }
}
export type Authenticate = ReturnType<typeof createAuthenticator>
