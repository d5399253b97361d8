// DATABASE_URL carries a password. Every message built here names the variable and shows at most a redacted form of
// the URL (scheme, user, host, port, database), never the password and never the raw value: a value that does not even
// parse may be a password pasted into the wrong variable.

/** A setting that names the database is unusable; the message names the variable and never contains a password. */
export class DatabaseSettingError extends Error {
  override readonly name = 'DatabaseSettingError'
}

/** What `checkDatabaseUrl` found in a valid DATABASE_URL: the URL to hand to `pg`, and a form safe to print. */
export interface CheckedDatabaseUrl {
  url: string
  redacted: string
}

const acceptedSchemes = new Set(['postgres:', 'postgresql:'])
const example = 'postgres://user:password@host:5432/database'

/** Checks a DATABASE_URL: a postgres:// or postgresql:// URL naming a host and a database. */
export function checkDatabaseUrl(value: string): CheckedDatabaseUrl {
  let parsed: URL
  try {
    parsed = new URL(value)
  } catch {
    throw new DatabaseSettingError(`DATABASE_URL is not a URL; expected ${example}`)
  }
  if (!acceptedSchemes.has(parsed.protocol)) {
    // Not even the scheme is shown: in `user:password@host/db` (no scheme at all) the "scheme" is the user name, and
    // in a bare `secret:…` it is part of a secret.
    throw new DatabaseSettingError(`DATABASE_URL must start with postgres:// or postgresql://; expected ${example}`)
  }
  const redacted = redactDatabaseUrl(parsed)
  // `host` may instead come from the query string (a Unix socket directory: postgres:///db?host=/run/postgresql).
  if (!parsed.hostname && !parsed.searchParams.get('host')) {
    throw new DatabaseSettingError(`DATABASE_URL names no host (${redacted}); expected ${example}`)
  }
  if (!databaseName(parsed)) {
    throw new DatabaseSettingError(`DATABASE_URL names no database (${redacted}); expected ${example}`)
  }
  return { url: value, redacted }
}

/**
 * Decides which engine a service uses: PostgreSQL when DATABASE_URL is set, else the SQLite file. Both set is a
 * configuration error (which one was meant?), reported without either value.
 */
export function chooseDatabase(settings: {
  databaseUrl?: string | undefined
  databasePath?: string | undefined
}): { databaseUrl: string } | { databasePath: string } {
  const { databaseUrl, databasePath } = settings
  if (databaseUrl !== undefined && databasePath !== undefined) {
    throw new DatabaseSettingError(
      'DATABASE_URL and DATABASE_PATH are both set; set DATABASE_URL for PostgreSQL or DATABASE_PATH for SQLite, not both',
    )
  }
  if (databaseUrl !== undefined) return { databaseUrl: checkDatabaseUrl(databaseUrl).url }
  if (databasePath === undefined || databasePath === '') throw new DatabaseSettingError('DATABASE_PATH is empty')
  return { databasePath }
}

/**
 * Turns a failure to reach PostgreSQL into one line naming DATABASE_URL, the redacted URL and the reason
 * (e.g. `ECONNREFUSED`, `password authentication failed`). The original error is not attached as `cause`: what it
 * carries is not ours to vouch for, and the password is removed from its message in case a driver echoes it.
 */
export function toDatabaseConnectError(error: unknown, databaseUrl: string): DatabaseSettingError {
  let redacted = 'the database'
  const passwords: string[] = []
  try {
    const parsed = new URL(databaseUrl)
    redacted = redactDatabaseUrl(parsed)
    if (parsed.password) passwords.push(parsed.password, decodeURIComponent(parsed.password))
    for (const password of parsed.searchParams.getAll('password'))
      passwords.push(password, encodeURIComponent(password))
  } catch {
    // Not a URL: say nothing about it (checkDatabaseUrl reports that case).
  }
  const code = (error as { code?: unknown } | null)?.code
  const message = error instanceof Error ? error.message || error.name : String(error)
  let reason = typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message
  // Longest first, so that a password containing another is hidden whole.
  for (const password of passwords.sort((a, b) => b.length - a.length))
    if (password) reason = reason.replaceAll(password, '***')
  return new DatabaseSettingError(`DATABASE_URL: cannot connect to ${redacted}: ${reason || 'unknown error'}`)
}

/** The URL without its password, and without the query string (which may hold `password=` or `sslkey=`). */
export function redactDatabaseUrl(url: URL): string {
  const user = url.username ? `${url.username}${url.password ? ':***' : ''}@` : ''
  const host = url.hostname ? url.host : (url.searchParams.get('host') ?? '')
  return `${url.protocol}//${user}${host}/${databaseName(url)}`
}

function databaseName(url: URL): string {
  return decodeURIComponent(url.pathname.replace(/^\//, ''))
}
