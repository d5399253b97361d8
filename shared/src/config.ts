import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname } from 'node:path'
import { type Static, type TObject, Type } from 'typebox'
import { Value } from 'typebox/value'
import { chooseDatabase, DatabaseSettingError } from './db/database-url.js'
import { ConfigError } from './errors.js'
import { isKeyPairAlgorithm, KEY_PAIR_ALGORITHMS } from './keyring.js'

/**
 * A TCP port to listen on, defaulting to the service's own. `errorMessage` (here and below) is what the operator reads
 * after the variable's name when the value fails its schema; without one the loader says "has an invalid value".
 */
export const Port = (defaultPort: number) =>
  Type.Integer({
    minimum: 1,
    maximum: 65535,
    default: defaultPort,
    errorMessage: 'must be a port number from 1 to 65535',
  })

/**
 * The settings both services read, named exactly as their environment variables. Each service spreads these into its
 * own schema and gives PORT and DATABASE_PATH its defaults; COOKIE_SECURE's default depends on NODE_ENV, so the loader
 * sets it.
 */
export const CommonConfig = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], {
    default: 'development',
    errorMessage: 'must be development, production or test',
  }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  PORT: Type.Integer({ minimum: 1, maximum: 65535, errorMessage: 'must be a port number from 1 to 65535' }),
  /** Where GET /metrics (Prometheus) is served, on HOST, never on PORT; unset: nowhere. Keep it off the internet. */
  MANAGEMENT_PORT: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 65535, errorMessage: 'must be a port number from 1 to 65535' }),
  ),
  /** HS256: one secret both services hold (either could mint); ES256/EdDSA: the bank alone holds a private key. */
  JWT_ALG: Type.Union([Type.Literal('HS256'), Type.Literal('ES256'), Type.Literal('EdDSA')], {
    default: 'HS256',
    errorMessage: 'must be HS256, ES256 or EdDSA',
  }),
  /** HS256 only; refused with a key pair. */
  JWT_SECRET: Type.Optional(Type.String()),
  JWT_PREVIOUS_SECRETS: Type.Array(Type.String(), { default: [] }),
  DATABASE_PATH: Type.String({ minLength: 1 }),
  /** `postgres://…`: keep everything in PostgreSQL instead of the SQLite file. */
  DATABASE_URL: Type.Optional(Type.String({ minLength: 1 })),
  BANK_PUBLIC_URL: Type.String({ minLength: 1, default: 'http://localhost:3000' }),
  RETIREMENT_PUBLIC_URL: Type.String({ minLength: 1, default: 'http://localhost:3001' }),
  COOKIE_DOMAIN: Type.Optional(Type.String({ minLength: 1 })),
  COOKIE_SECURE: Type.Boolean(),
  TRUST_PROXY: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  // Spelled out: a union built with .map() is typed as an array, not a tuple, and its Static type becomes never.
  LOG_LEVEL: Type.Union(
    [
      Type.Literal('fatal'),
      Type.Literal('error'),
      Type.Literal('warn'),
      Type.Literal('info'),
      Type.Literal('debug'),
      Type.Literal('trace'),
      Type.Literal('silent'),
    ],
    { default: 'info', errorMessage: 'must be one of fatal, error, warn, info, debug, trace, silent' },
  ),
})
export type CommonConfig = Static<typeof CommonConfig>

/** Where development keeps its generated secret and SQLite files; git-ignored. */
export const DEVELOPMENT_DATA_DIR = 'data'
const DEVELOPMENT_SECRET_PATH = `${DEVELOPMENT_DATA_DIR}/jwt-secret`
const MIN_SECRET_BYTES = 32
// Values people paste from tutorials. Matching is on the whole secret, lowercased, with digits, separators and
// repetition stripped, so "changeme123" and "secretsecretsecretsecretsecret!!" are caught too.
const PLACEHOLDER_SECRETS = new Set([
  'secret',
  'changeme',
  'change',
  'password',
  'jwtsecret',
  'yoursecret',
  'mysecret',
  'supersecret',
  'default',
  'test',
  'example',
  'replaceme',
  'todo',
  'xxx',
  'abc',
  'key',
  'secretkey',
  'jwt',
  'token',
])
const URL_VARIABLES = ['BANK_PUBLIC_URL', 'RETIREMENT_PUBLIC_URL'] as const

/** What the loader reads of a property's schema: its JSON type, bounds and the message for a bad value. */
interface PropertySchema {
  type?: string
  minimum?: number
  errorMessage?: string
}

/**
 * Reads a service's settings from the environment once at start, as its schema describes them: every property is
 * read from the variable of the same name, converted by its type, given its schema default, and checked. `NODE_ENV`
 * picks the defaults that depend on it; the secret comes from `JWT_SECRET`, `JWT_SECRET_FILE`, or in development a
 * generated file. Throws {@link ConfigError} naming the first variable that is wrong.
 */
export function loadConfig<Schema extends TObject>(schema: Schema, environment: NodeJS.ProcessEnv): Static<Schema> {
  const properties = schema.properties as Record<string, PropertySchema>
  // Problems with a URL read from a file are reported as the file's: the variable the operator actually set.
  const databaseUrlVariable = environment.DATABASE_URL_FILE ? 'DATABASE_URL_FILE' : 'DATABASE_URL'
  const env = 'DATABASE_URL' in properties ? withDatabaseUrlFromFile(environment) : environment
  const given: Record<string, unknown> = {}
  for (const [name, property] of Object.entries(properties)) {
    const value = env[name]
    if (value === undefined || value === '' || name === 'JWT_SECRET') continue
    given[name] = convertText(name, value, property)
  }
  const raw = Value.Default(schema, given) as Record<string, unknown>
  const isProduction = raw.NODE_ENV === 'production'
  raw.COOKIE_SECURE ??= isProduction
  if (!['HS256', ...KEY_PAIR_ALGORITHMS].includes(raw.JWT_ALG as string)) {
    throw new ConfigError('JWT_ALG', 'must be HS256, ES256 or EdDSA')
  }
  const usesKeyPair = isKeyPairAlgorithm(raw.JWT_ALG as string)
  if (usesKeyPair) refuseSecret(env, raw.JWT_ALG as string)
  else raw.JWT_SECRET = readSecret(env, isProduction)

  for (const error of Value.Errors(schema, raw)) {
    const variable =
      error.instancePath.split('/')[1] ||
      (error.params as { requiredProperties?: string[] }).requiredProperties?.[0] ||
      'config'
    const problem =
      raw[variable] === undefined ? 'is required' : (properties[variable]?.errorMessage ?? 'has an invalid value')
    throw new ConfigError(variable, problem)
  }
  if (raw.MANAGEMENT_PORT !== undefined && raw.MANAGEMENT_PORT === raw.PORT) {
    throw new ConfigError('MANAGEMENT_PORT', 'must differ from PORT: metrics are never served on the public port')
  }
  for (const name of URL_VARIABLES) assertOrigin(name, raw[name] as string)
  // A bad secret read from a file is reported as the file's: the variable the operator actually set.
  if (!usesKeyPair) checkSecret(env.JWT_SECRET_FILE ? 'JWT_SECRET_FILE' : 'JWT_SECRET', raw.JWT_SECRET as string)
  for (const previous of raw.JWT_PREVIOUS_SECRETS as string[]) checkSecret('JWT_PREVIOUS_SECRETS', previous)
  for (const proxy of raw.TRUST_PROXY as string[]) {
    // proxy-addr (Fastify's trustProxy) also knows these names for the usual private ranges.
    if (['loopback', 'linklocal', 'uniquelocal'].includes(proxy)) continue
    const [address = '', prefix, ...rest] = proxy.split('/')
    const version = isIP(address)
    const prefixIsValid = prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (version === 6 ? 128 : 32))
    if (version === 0 || !prefixIsValid || rest.length > 0) {
      throw new ConfigError(
        'TRUST_PROXY',
        'must list IP addresses, CIDR ranges or loopback/linklocal/uniquelocal, such as 10.0.0.1,172.16.0.0/12',
      )
    }
  }
  if (typeof raw.COOKIE_DOMAIN === 'string' && !/^[a-z0-9.-]+$/i.test(raw.COOKIE_DOMAIN)) {
    throw new ConfigError('COOKIE_DOMAIN', 'must be a bare domain such as example.com')
  }
  // From `env`: DATABASE_PATH has a default by now, and only one the operator set conflicts.
  if ('DATABASE_URL' in properties && env.DATABASE_URL)
    checkDatabaseChoice(env.DATABASE_URL, env.DATABASE_PATH || undefined, databaseUrlVariable)
  return raw as Static<Schema>
}

/**
 * DATABASE_URL picks PostgreSQL; DATABASE_PATH (which has a default, so only when set explicitly) picks SQLite, and
 * both at once is a mistake (which one was meant?). Messages name the variable, never the URL or its password.
 */
function checkDatabaseChoice(databaseUrl: string, databasePath: unknown, variable: string) {
  if (databasePath !== undefined) {
    throw new ConfigError(
      variable,
      'cannot be set together with DATABASE_PATH; set DATABASE_URL for PostgreSQL or DATABASE_PATH for SQLite',
    )
  }
  try {
    chooseDatabase({ databaseUrl })
  } catch (error) {
    if (!(error instanceof DatabaseSettingError)) throw error
    throw new ConfigError(variable, error.message.replace(/^DATABASE_URL:?\s*/, ''))
  }
}

/**
 * DATABASE_URL_FILE: the URL, password included, from a file (a compose or Kubernetes secret) instead of the
 * environment, where `docker inspect` and every child process would see it. Exactly one of the two may be set.
 */
function withDatabaseUrlFromFile(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { DATABASE_URL, DATABASE_URL_FILE } = env
  if (!DATABASE_URL_FILE) return env
  if (DATABASE_URL) throw new ConfigError('DATABASE_URL', 'set either DATABASE_URL or DATABASE_URL_FILE, not both')
  let databaseUrl: string
  try {
    // Files written by `echo` or editors end in a newline that is not part of the URL.
    databaseUrl = readFileSync(DATABASE_URL_FILE, 'utf8').replace(/\r?\n$/, '')
  } catch (error) {
    throw new ConfigError('DATABASE_URL_FILE', `cannot read the file (${(error as NodeJS.ErrnoException).code})`)
  }
  // Else an empty file would read as "unset" and the service would quietly keep its state in SQLite.
  if (databaseUrl.trim() === '') throw new ConfigError('DATABASE_URL_FILE', 'the file is empty')
  return { ...env, DATABASE_URL: databaseUrl }
}

/** What the operator should hear about at start: settings that are allowed but weaken the deployment. */
export function describeConfigRisks(config: Pick<CommonConfig, 'NODE_ENV' | 'COOKIE_SECURE'>): string[] {
  if (config.NODE_ENV === 'production' && !config.COOKIE_SECURE) {
    return ['COOKIE_SECURE=false in production: cookies travel without the Secure flag; run only behind TLS']
  }
  return []
}

/**
 * An environment variable's text as its schema's type. Not Value.Convert: it reads "1.5" as 1, "1e3" as 1000 and
 * "TRUE" as true, where a setting that is not written exactly one way is a mistake worth stopping for.
 */
function convertText(name: string, text: string, schema: PropertySchema): unknown {
  if (schema.type === 'array') {
    return text
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean)
  }
  if (schema.type === 'integer') {
    // Only plain decimal digits: "1e3", " 90", "0x10" and "15m" are all rejected rather than guessed at.
    const minimum = schema.minimum ?? 0
    if (/^[0-9]+$/.test(text) && Number(text) >= minimum) return Number(text)
    throw new ConfigError(
      name,
      minimum === 1 ? 'must be a positive integer' : (schema.errorMessage ?? 'has an invalid value'),
    )
  }
  if (schema.type === 'boolean') {
    if (text === 'true' || text === '1') return true
    if (text === 'false' || text === '0') return false
    throw new ConfigError(name, 'must be true or false')
  }
  return text
}

function assertOrigin(name: string, value: string) {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError(name, 'must be an absolute http(s) URL such as http://localhost:3000')
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password) {
    throw new ConfigError(name, 'must be an absolute http(s) URL without credentials')
  }
}

/** With a key pair, a verifying service that held a signing secret could mint tokens: refused, not ignored. */
function refuseSecret(env: NodeJS.ProcessEnv, algorithm: string) {
  for (const variable of ['JWT_SECRET', 'JWT_SECRET_FILE']) {
    if (env[variable]) {
      throw new ConfigError(
        variable,
        `must not be set with JWT_ALG=${algorithm}: a shared signing secret lets every holder mint tokens ` +
          '(JWT_PREVIOUS_SECRETS stays allowed, for verifying only)',
      )
    }
  }
}

/** The secret comes from exactly one place; in development only, a random one is generated and kept. */
function readSecret(env: NodeJS.ProcessEnv, isProduction: boolean): string {
  const { JWT_SECRET, JWT_SECRET_FILE } = env
  if (JWT_SECRET && JWT_SECRET_FILE) {
    throw new ConfigError('JWT_SECRET', 'set either JWT_SECRET or JWT_SECRET_FILE, not both')
  }
  if (JWT_SECRET) return JWT_SECRET
  if (JWT_SECRET_FILE) {
    try {
      // Files written by `echo` or editors end in a newline that is not part of the key.
      return readFileSync(JWT_SECRET_FILE, 'utf8').replace(/\r?\n$/, '')
    } catch (error) {
      throw new ConfigError('JWT_SECRET_FILE', `cannot read the file (${(error as NodeJS.ErrnoException).code})`)
    }
  }
  if (isProduction) {
    throw new ConfigError('JWT_SECRET', 'is required in production (generate one with: openssl rand -base64 48)')
  }
  return readOrCreateDevelopmentSecret(DEVELOPMENT_SECRET_PATH)
}

/**
 * Both services start at once from `npm start`; creating with the 'wx' flag means only one of them writes
 * the secret and the other reads what the winner wrote, so they always agree.
 */
export function readOrCreateDevelopmentSecret(path: string): string {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  try {
    writeFileSync(path, randomBytes(48).toString('base64url'), { flag: 'wx', mode: 0o600 })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
  return readFileSync(path, 'utf8').trim()
}

function checkSecret(variable: string, secret: string) {
  if (Buffer.byteLength(secret, 'utf8') < MIN_SECRET_BYTES) {
    throw new ConfigError(
      variable,
      `must be at least ${MIN_SECRET_BYTES} bytes (generate one with: openssl rand -base64 48)`,
    )
  }
  const core = secret.toLowerCase().replace(/[^a-z]/g, '')
  const repeatedUnit = core.match(/^(.+?)\1*$/)?.[1] ?? core
  if (PLACEHOLDER_SECRETS.has(repeatedUnit) || new Set(secret).size < 8) {
    throw new ConfigError(variable, 'is a placeholder, not a secret (generate one with: openssl rand -base64 48)')
  }
}

/**
 * Runs a loader and turns a {@link ConfigError} into the one stderr line and non-zero exit docs/spec.md#configuration asks for.
 */
export function loadConfigOrExit<T>(load: () => T): T {
  try {
    return load()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`Configuration error: ${error.message}\n`)
    process.exit(1)
  }
}

/**
 * Builds the app and turns a database that cannot be reached (a {@link DatabaseSettingError}, which names
 * DATABASE_URL and never its password) into one stderr line and a non-zero exit, like a bad setting.
 */
export async function buildAppOrExit<T>(build: () => Promise<T>): Promise<T> {
  try {
    return await build()
  } catch (error) {
    if (!(error instanceof DatabaseSettingError)) throw error
    process.stderr.write(`Cannot start: ${error.message}\n`)
    process.exit(1)
  }
}
