import { describe, expect, it } from 'vitest'
import { checkDatabaseUrl, chooseDatabase, DatabaseSettingError, toDatabaseConnectError } from './database-url.js'

const password = 'S3cr3t-pa55w0rd'

describe('checkDatabaseUrl', () => {
  it.each([
    `postgres://bank:${password}@db.internal:5432/bank`,
    `postgresql://bank:${password}@db.internal/bank?sslmode=require`,
    'postgres://bank@[::1]:5432/bank',
    'postgres:///bank?host=/run/postgresql',
  ])('accepts %s and prints it without the password', (url) => {
    const checked = checkDatabaseUrl(url)
    expect(checked.url).toBe(url)
    expect(checked.redacted).not.toContain(password)
    expect(checked.redacted).toMatch(/^postgres(ql)?:\/\/.*\/bank$/)
  })

  it.each([
    ['no scheme', `bank:${password}@db:5432/bank`, /DATABASE_URL must start with postgres:\/\/ or postgresql:\/\//],
    ['a scheme that is a secret', `${password}:x`, /DATABASE_URL must start with postgres/],
    ['a password alone', password, /DATABASE_URL is not a URL/],
    [
      'another scheme',
      `mysql://bank:${password}@db/bank`,
      /DATABASE_URL must start with postgres:\/\/ or postgresql:\/\//,
    ],
    ['an http URL', `https://bank:${password}@db/bank`, /DATABASE_URL must start with postgres/],
    ['no host', `postgres:///bank?password=${password}`, /DATABASE_URL names no host/],
    ['no database', `postgres://bank:${password}@db:5432/`, /DATABASE_URL names no database/],
    ['a bad port', `postgres://bank:${password}@db:99999/bank`, /DATABASE_URL is not a URL/],
  ])('rejects %s, naming DATABASE_URL and never the password', (_case, url, message) => {
    expect(() => checkDatabaseUrl(url)).toThrow(DatabaseSettingError)
    expect(() => checkDatabaseUrl(url)).toThrow(message)
    const error = catchError(() => checkDatabaseUrl(url))
    expect(error.message).not.toContain(password)
    expect(error.message).not.toContain(url)
  })

  it('hides the password even when it is percent-encoded', () => {
    const encoded = encodeURIComponent('p@ss/word:1')
    const checked = checkDatabaseUrl(`postgres://bank:${encoded}@db/bank`)
    expect(checked.redacted).toBe('postgres://bank:***@db/bank')
  })

  it('drops the query string, which may carry a password too', () => {
    expect(checkDatabaseUrl(`postgres://db/bank?password=${password}`).redacted).toBe('postgres://db/bank')
  })
})

describe('chooseDatabase', () => {
  it('picks PostgreSQL for DATABASE_URL and SQLite for DATABASE_PATH', () => {
    expect(chooseDatabase({ databaseUrl: 'postgres://db/bank' })).toEqual({ databaseUrl: 'postgres://db/bank' })
    expect(chooseDatabase({ databasePath: './data/bank.sqlite' })).toEqual({ databasePath: './data/bank.sqlite' })
  })

  it('refuses both at once, without echoing either', () => {
    const error = catchError(() =>
      chooseDatabase({ databaseUrl: `postgres://bank:${password}@db/bank`, databasePath: '/data/bank.sqlite' }),
    )
    expect(error).toBeInstanceOf(DatabaseSettingError)
    expect(error.message).toMatch(/DATABASE_URL and DATABASE_PATH are both set/)
    expect(error.message).not.toContain(password)
    expect(error.message).not.toContain('/data/bank.sqlite')
  })

  it('checks the URL it picks', () => {
    expect(() => chooseDatabase({ databaseUrl: `mysql://bank:${password}@db/bank` })).toThrow(/DATABASE_URL/)
  })
})

describe('toDatabaseConnectError', () => {
  it('names DATABASE_URL, the server and the reason, and scrubs the password from whatever the driver said', () => {
    const url = `postgres://bank:${password}@db.internal:5432/bank?password=${password}2`
    const driverError = Object.assign(new Error(`could not log in with ${password} or ${password}2`), { code: '28P01' })
    const error = toDatabaseConnectError(driverError, url)
    expect(error.message).toBe(
      'DATABASE_URL: cannot connect to postgres://bank:***@db.internal:5432/bank: 28P01: could not log in with *** or ***',
    )
    expect(error.cause).toBeUndefined()
  })
})

function catchError(run: () => unknown): Error {
  try {
    run()
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a throw')
}
