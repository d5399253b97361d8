import { ServerBusyError } from '@sso/shared'
import { type OpenedDatabase, openDatabase } from '@sso/shared/db'
import type { FastifyRequest } from 'fastify'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { BankDatabase } from '../db/bank-database.js'
import { bankMigrations } from '../db/migrations/index.js'
import { createAuthenticator } from './authenticate.js'
import type { Credentials } from './credentials.js'
import { createLoginThrottle } from './login-throttle.js'
import { type PasswordHasher, UNUSABLE_HASH } from './password.js'
import { createUsersRepository } from './users-repository.js'

const limits = { maxFailures: 3, windowMs: 60_000 }

let database: OpenedDatabase<BankDatabase>
let busy: boolean
let aliceId: string
let verifiedHashes: string[]
/** No argon2: the authenticator's bookkeeping is the subject, so the hasher says "busy" or compares strings. */
const passwords: PasswordHasher = {
  hash: async (password) => password,
  verify: async (hash, password) => {
    if (busy) throw new ServerBusyError()
    verifiedHashes.push(hash)
    return hash === password
  },
}

/** What the authenticator reported, in order: the refusals it records as audit lines and metrics. */
let reported: string[]
// The request only travels to the events (for its logger); these record without reading it.
const request = {} as FastifyRequest

function authenticator() {
  const authenticate = createAuthenticator({
    users: createUsersRepository(database.db),
    passwords,
    throttle: createLoginThrottle(database, limits),
    events: {
      loginFailed: (_request, sub) => reported.push(`failed ${sub ?? 'unknown user'}`),
      loginThrottled: (_request, limit) => reported.push(`throttled by ${limit}`),
      passwordWorkRefused: () => reported.push('busy'),
    },
  })
  return (credentials: Credentials) => authenticate(credentials, request)
}

describeEachEngine('authenticate', (engine) => {
  beforeEach(async () => {
    database = await openDatabase({ ...(await engine.createDatabase(bankMigrations)), migrations: bankMigrations })
    busy = false
    verifiedHashes = []
    reported = []
    aliceId = (await createUsersRepository(database.db).insert('alice', 'right password')).id
  })
  afterEach(() => database.db.destroy())

  it('does the password work for an unknown username too, against the unusable hash', async () => {
    const authenticate = authenticator()
    await expect(authenticate({ username: 'mallory', password: 'some password' })).rejects.toMatchObject({
      statusCode: 401,
    })
    expect(verifiedHashes).toEqual([UNUSABLE_HASH])
  })

  it("reports each refusal, naming the account's id only when the username has one (never the username)", async () => {
    const authenticate = authenticator()
    await expect(authenticate({ username: 'mallory', password: 'some password' })).rejects.toThrow()
    await expect(authenticate({ username: 'alice', password: 'wrong password' })).rejects.toThrow()
    busy = true
    await expect(authenticate({ username: 'alice', password: 'wrong password' })).rejects.toThrow()
    busy = false
    for (let attempt = 1; attempt < limits.maxFailures; attempt++) {
      await expect(authenticate({ username: 'alice', password: 'wrong password' })).rejects.toThrow()
    }
    await expect(authenticate({ username: 'alice', password: 'right password' })).rejects.toThrow()
    expect(reported).toEqual([
      'failed unknown user',
      `failed ${aliceId}`,
      'busy',
      ...Array.from({ length: limits.maxFailures - 1 }, () => `failed ${aliceId}`),
      'throttled by username',
    ])
  })

  it('does not count an attempt refused as busy (503) against the username', async () => {
    const authenticate = authenticator()
    busy = true
    for (let attempt = 0; attempt < limits.maxFailures + 2; attempt++) {
      await expect(authenticate({ username: 'alice', password: 'wrong password' })).rejects.toMatchObject({
        code: 'SSO_BUSY',
      })
    }
    busy = false
    await expect(authenticate({ username: 'alice', password: 'right password' })).resolves.toMatchObject({
      username: 'alice',
    })
  })

  it('still locks the username after the real failures around a busy spell', async () => {
    const authenticate = authenticator()
    await expect(authenticate({ username: 'alice', password: 'wrong password' })).rejects.toMatchObject({
      statusCode: 401,
    })
    busy = true
    await expect(authenticate({ username: 'alice', password: 'wrong password' })).rejects.toMatchObject({
      statusCode: 503,
    })
    busy = false
    for (let attempt = 1; attempt < limits.maxFailures; attempt++) {
      await expect(authenticate({ username: 'alice', password: 'wrong password' })).rejects.toMatchObject({
        statusCode: 401,
      })
    }
    await expect(authenticate({ username: 'alice', password: 'right password' })).rejects.toMatchObject({
      statusCode: 429,
    })
  })
})
