import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Type } from 'typebox'
import { describe, expect, it } from 'vitest'
import { CommonConfig, describeConfigRisks, loadConfig, Port, readOrCreateDevelopmentSecret } from './config.js'
import { ConfigError } from './errors.js'

const GOOD_SECRET = 'Qm9vdHN0cmFwLXRoZS1zZWNyZXQtd2l0aC1vcGVuc3NsLXJhbmQ'
// A service's schema as the services write theirs: the common settings, its own defaults, one setting of its own.
const TestConfig = Type.Object({
  ...CommonConfig.properties,
  PORT: Port(3000),
  DATABASE_PATH: Type.String({ minLength: 1, default: 'data/test.sqlite' }),
  WIDGET_TTL: Type.Integer({ minimum: 1, default: 900 }),
})
const load = (env: NodeJS.ProcessEnv) => loadConfig(TestConfig, env)
const production = (env: NodeJS.ProcessEnv = {}) => load({ NODE_ENV: 'production', JWT_SECRET: GOOD_SECRET, ...env })

function failureOf(run: () => unknown): ConfigError {
  try {
    run()
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('loadConfig', () => {
  it('applies the defaults of docs/spec.md#configuration', () => {
    const config = production()
    expect(config).toMatchObject({
      HOST: '127.0.0.1',
      PORT: 3000,
      BANK_PUBLIC_URL: 'http://localhost:3000',
      RETIREMENT_PUBLIC_URL: 'http://localhost:3001',
      COOKIE_SECURE: true,
      TRUST_PROXY: [],
      JWT_PREVIOUS_SECRETS: [],
      LOG_LEVEL: 'info',
      WIDGET_TTL: 900,
    })
    expect(config.COOKIE_DOMAIN).toBeUndefined()
  })

  it('makes cookies non-Secure by default outside production, and honours COOKIE_SECURE=false in production', () => {
    expect(load({ JWT_SECRET: GOOD_SECRET }).COOKIE_SECURE).toBe(false)
    expect(production({ COOKIE_SECURE: 'false' }).COOKIE_SECURE).toBe(false)
  })

  it('parses numbers, booleans and lists', () => {
    const config = production({
      PORT: '8080',
      WIDGET_TTL: '60',
      TRUST_PROXY: '10.0.0.1, 192.168.0.0/16, ::1, fd00::/8, loopback',
      JWT_PREVIOUS_SECRETS: `${GOOD_SECRET}x,${GOOD_SECRET}y`,
    })
    expect(config).toMatchObject({
      PORT: 8080,
      WIDGET_TTL: 60,
      TRUST_PROXY: ['10.0.0.1', '192.168.0.0/16', '::1', 'fd00::/8', 'loopback'],
    })
    expect(config.JWT_PREVIOUS_SECRETS).toHaveLength(2)
  })

  it.each([
    [{ JWT_SECRET: undefined }, 'JWT_SECRET', 'required'],
    [{ JWT_SECRET: 'short-but-not-a-placeholder' }, 'JWT_SECRET', 'at least 32 bytes'],
    [{ JWT_SECRET: 'changeme' }, 'JWT_SECRET', ''],
    [{ JWT_SECRET: 'secretsecretsecretsecretsecretsecret' }, 'JWT_SECRET', 'placeholder'],
    [{ JWT_SECRET: 'changeme-changeme-changeme-changeme-1234' }, 'JWT_SECRET', 'placeholder'],
    [{ JWT_SECRET: 'a'.repeat(48) }, 'JWT_SECRET', 'placeholder'],
    [{ JWT_SECRET_FILE: '/nonexistent/secret' }, 'JWT_SECRET', 'not both'],
    [{ JWT_PREVIOUS_SECRETS: 'tooshort' }, 'JWT_PREVIOUS_SECRETS', 'at least 32 bytes'],
    [{ PORT: 'http' }, 'PORT', 'positive integer'],
    [{ PORT: '0' }, 'PORT', 'positive integer'],
    [{ PORT: '70000' }, 'PORT', '1 to 65535'],
    [{ WIDGET_TTL: '-5' }, 'WIDGET_TTL', 'positive integer'],
    [{ WIDGET_TTL: '1.5' }, 'WIDGET_TTL', 'positive integer'],
    [{ WIDGET_TTL: '15m' }, 'WIDGET_TTL', 'positive integer'],
    [{ BANK_PUBLIC_URL: 'localhost:3000' }, 'BANK_PUBLIC_URL', 'URL'],
    [{ RETIREMENT_PUBLIC_URL: 'not a url' }, 'RETIREMENT_PUBLIC_URL', 'URL'],
    [{ RETIREMENT_PUBLIC_URL: 'javascript:alert(1)' }, 'RETIREMENT_PUBLIC_URL', 'URL'],
    [{ COOKIE_SECURE: 'yes please' }, 'COOKIE_SECURE', 'true or false'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', 'one of'],
    [{ TRUST_PROXY: 'not-an-address' }, 'TRUST_PROXY', 'IP addresses, CIDR ranges'],
    [{ TRUST_PROXY: '10.0.0.0/33' }, 'TRUST_PROXY', 'IP addresses, CIDR ranges'],
    [{ COOKIE_DOMAIN: 'example.com; Path=/' }, 'COOKIE_DOMAIN', 'bare domain'],
  ])('refuses %o in production, naming %s', (env, variable, problem) => {
    const error = failureOf(() => production(env))
    expect(error.variable).toBe(variable)
    expect(error.message).toMatch(new RegExp(`^${variable}: `))
    expect(error.message).toContain(problem)
  })

  it('never puts the secret in the error message', () => {
    const error = failureOf(() => production({ JWT_SECRET: 'hunter2-is-my-password' }))
    expect(error.message).not.toContain('hunter2')
  })

  it('reads the secret from JWT_SECRET_FILE, without its trailing newline', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sso-config-')), 'secret')
    writeFileSync(file, `${GOOD_SECRET}\n`)
    expect(load({ NODE_ENV: 'production', JWT_SECRET_FILE: file }).JWT_SECRET).toBe(GOOD_SECRET)
  })

  it('names JWT_SECRET_FILE when the file cannot be read', () => {
    expect(failureOf(() => load({ NODE_ENV: 'production', JWT_SECRET_FILE: '/nonexistent/secret' })).variable).toBe(
      'JWT_SECRET_FILE',
    )
  })

  it('names JWT_SECRET_FILE when the file holds a short or placeholder secret', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sso-config-')), 'secret')
    for (const secret of ['too short', 'changemechangemechangemechangeme']) {
      writeFileSync(file, `${secret}\n`)
      const error = failureOf(() => load({ NODE_ENV: 'production', JWT_SECRET_FILE: file }))
      expect(error.variable).toBe('JWT_SECRET_FILE')
      expect(error.message).not.toContain(secret)
    }
  })
})

describe('loadConfig: MANAGEMENT_PORT', () => {
  it('is off unless set, and a port number when set', () => {
    expect(production().MANAGEMENT_PORT).toBeUndefined()
    expect(production({ MANAGEMENT_PORT: '9464' }).MANAGEMENT_PORT).toBe(9464)
  })

  it.each(['metrics', '0', '65536', '9464 ', '-1'])('names MANAGEMENT_PORT for %j', (value) => {
    expect(failureOf(() => production({ MANAGEMENT_PORT: value })).variable).toBe('MANAGEMENT_PORT')
  })

  it('refuses the public port: metrics are never served there', () => {
    const error = failureOf(() => production({ PORT: '3000', MANAGEMENT_PORT: '3000' }))
    expect(error.message).toBe('MANAGEMENT_PORT: must differ from PORT: metrics are never served on the public port')
  })
})

describe('loadConfig: DATABASE_URL', () => {
  const password = 'Db-Pa55word-never-shown'

  it('takes a postgres:// URL, and keeps the SQLite default unused beside it', () => {
    const databaseUrl = `postgres://bank:${password}@db.internal:5432/bank`
    expect(production({ DATABASE_URL: databaseUrl })).toMatchObject({ DATABASE_URL: databaseUrl })
    expect(production().DATABASE_URL).toBeUndefined()
  })

  it.each([
    ['malformed', `bank:${password}@db/bank`, /^DATABASE_URL: must start with postgres:\/\/ or postgresql:\/\//],
    ['another engine', `mysql://bank:${password}@db/bank`, /^DATABASE_URL: must start with postgres/],
    ['without a database', `postgres://bank:${password}@db/`, /^DATABASE_URL: names no database/],
  ])('refuses a %s DATABASE_URL, naming the variable and never the password', (_case, databaseUrl, message) => {
    const error = failureOf(() => production({ DATABASE_URL: databaseUrl }))
    expect(error.variable).toBe('DATABASE_URL')
    expect(error.message).toMatch(message)
    expect(error.message).not.toContain(password)
  })

  it('refuses DATABASE_URL with DATABASE_PATH: which one was meant?', () => {
    const error = failureOf(() =>
      production({ DATABASE_URL: `postgres://bank:${password}@db/bank`, DATABASE_PATH: '/data/bank.sqlite' }),
    )
    expect(error.message).toMatch(/^DATABASE_URL: cannot be set together with DATABASE_PATH/)
    expect(error.message).not.toContain(password)
  })

  // The scaled compose keeps the database password out of the environment, as JWT_SECRET_FILE keeps the key out.
  describe('from DATABASE_URL_FILE', () => {
    const fileHolding = (text: string) => {
      const file = join(mkdtempSync(join(tmpdir(), 'sso-config-')), 'database-url')
      writeFileSync(file, text)
      return file
    }

    it('reads the URL from the file, without its trailing newline', () => {
      const databaseUrl = `postgres://bank:${password}@postgres:5432/bank`
      const loaded = production({ DATABASE_URL_FILE: fileHolding(`${databaseUrl}\n`) })
      expect(loaded.DATABASE_URL).toBe(databaseUrl)
    })

    it('names DATABASE_URL_FILE when the file cannot be read, and when it holds a malformed URL', () => {
      const unreadable = failureOf(() => production({ DATABASE_URL_FILE: '/nonexistent/database-url' }))
      expect(unreadable.variable).toBe('DATABASE_URL_FILE')
      expect(unreadable.message).toMatch(/^DATABASE_URL_FILE: cannot read the file \(ENOENT\)/)
      const malformed = failureOf(() => production({ DATABASE_URL_FILE: fileHolding(`bank:${password}@db/bank`) }))
      expect(malformed.variable).toBe('DATABASE_URL_FILE')
      expect(malformed.message).toMatch(/^DATABASE_URL_FILE: must start with postgres:\/\//)
      expect(malformed.message).not.toContain(password)
      // Not SQLite by surprise: an empty file is a mistake, not "no PostgreSQL".
      const empty = failureOf(() => production({ DATABASE_URL_FILE: fileHolding('\n') }))
      expect(empty.message).toMatch(/^DATABASE_URL_FILE: the file is empty/)
    })

    it('refuses DATABASE_URL_FILE beside DATABASE_URL or DATABASE_PATH', () => {
      const file = fileHolding(`postgres://bank:${password}@db/bank`)
      const both = failureOf(() => production({ DATABASE_URL_FILE: file, DATABASE_URL: 'postgres://bank@db/bank' }))
      expect(both.message).toMatch(/^DATABASE_URL: set either DATABASE_URL or DATABASE_URL_FILE, not both/)
      const withPath = failureOf(() => production({ DATABASE_URL_FILE: file, DATABASE_PATH: '/data/bank.sqlite' }))
      expect(withPath.message).toMatch(/^DATABASE_URL_FILE: cannot be set together with DATABASE_PATH/)
      expect(withPath.message).not.toContain(password)
    })
  })
})

describe('describeConfigRisks', () => {
  it('warns about non-Secure cookies in production only', () => {
    expect(describeConfigRisks(production({ COOKIE_SECURE: 'false' }))).toEqual([
      expect.stringMatching(/^COOKIE_SECURE=false in production: /),
    ])
    expect(describeConfigRisks(production())).toEqual([])
    expect(describeConfigRisks(load({ JWT_SECRET: GOOD_SECRET, COOKIE_SECURE: 'false' }))).toEqual([])
  })
})

describe('readOrCreateDevelopmentSecret', () => {
  it('creates a random secret once, readable only by its owner, and reuses it', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'sso-dev-secret-')), 'data', 'jwt-secret')
    const first = readOrCreateDevelopmentSecret(path)
    expect(Buffer.byteLength(first)).toBeGreaterThanOrEqual(32)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(readOrCreateDevelopmentSecret(path)).toBe(first)
    expect(readFileSync(path, 'utf8')).toBe(first)
  })
})

describe('JWT_ALG', () => {
  it('defaults to HS256 and takes ES256 or EdDSA, with no secret at all', () => {
    expect(production().JWT_ALG).toBe('HS256')
    const keyPair = load({ NODE_ENV: 'production', JWT_ALG: 'ES256' })
    expect(keyPair.JWT_ALG).toBe('ES256')
    expect(keyPair.JWT_SECRET).toBeUndefined()
    expect(load({ NODE_ENV: 'production', JWT_ALG: 'EdDSA' }).JWT_ALG).toBe('EdDSA')
  })

  it('refuses a signing secret in a key-pair mode, naming the variable, and keeps previous secrets for verifying', () => {
    expect(failureOf(() => production({ JWT_ALG: 'ES256' })).variable).toBe('JWT_SECRET')
    expect(failureOf(() => load({ NODE_ENV: 'production', JWT_ALG: 'EdDSA', JWT_SECRET_FILE: '/x' })).variable).toBe(
      'JWT_SECRET_FILE',
    )
    expect(load({ JWT_ALG: 'ES256', JWT_PREVIOUS_SECRETS: GOOD_SECRET }).JWT_PREVIOUS_SECRETS).toEqual([GOOD_SECRET])
  })

  it('refuses any other algorithm', () => {
    expect(failureOf(() => production({ JWT_ALG: 'RS256' })).variable).toBe('JWT_ALG')
    expect(failureOf(() => production({ JWT_ALG: 'none' })).variable).toBe('JWT_ALG')
  })
})
