import { randomBytes } from 'node:crypto'

// The one way tests get a user: register and log in through the bank's JSON API, in-process (`app.inject`) or
// over HTTP against a real process (e2e), so every test signs in the way a client does.

/** The password every test user gets: long enough for the bank's rules, and never a secret. */
export const TEST_PASSWORD = 'correct horse battery staple'

/** A fresh, unique username: every test gets its own user, so no test's lockout or logout touches another's. */
export function uniqueUsername(prefix = 'u'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`
}

/** What the helpers see of a bank response. */
export interface BankResponse {
  statusCode: number
  body: string
  /** The cookies the response set, by name (a cleared cookie has an empty value). */
  cookies: Record<string, string>
}

/** How the helpers reach the bank: a JSON POST to a path. */
export type PostToBank = (path: string, payload: unknown, headers?: Record<string, string>) => Promise<BankResponse>

/** In-process: `app.inject`, no socket. */
export function injectInto(app: {
  inject(options: {
    method: 'POST'
    url: string
    payload: object
    headers: Record<string, string>
  }): PromiseLike<{ statusCode: number; body: string; cookies: Array<{ name: string; value: string }> }>
}): PostToBank {
  return async (path, payload, headers = {}) => {
    const response = await app.inject({ method: 'POST', url: path, payload: payload as object, headers })
    const cookies = Object.fromEntries(response.cookies.map((cookie) => [cookie.name, cookie.value]))
    return { statusCode: response.statusCode, body: response.body, cookies }
  }
}

export interface Credentials {
  username: string
  password: string
}

/** The two users the unit tests of both services know by name (retirement adds the id the bank gave them). */
export const alice = { username: 'alice', password: TEST_PASSWORD }
export const bob = { username: 'bob', password: 'hunter2 is not a password' }

export interface HelperOptions {
  headers?: Record<string, string>
  /** More to say when a step fails, e.g. the services' output. */
  describe?: () => string
}

function failure(step: string, response: BankResponse, describe?: () => string): Error {
  return new Error(`${step} failed: ${response.statusCode} ${response.body}${describe ? `\n${describe()}` : ''}`)
}

/** Signs a user up through POST /api/register; returns the new user's id. */
export async function register(bank: PostToBank, credentials: Credentials, options: HelperOptions = {}) {
  const response = await bank('/api/register', credentials, options.headers)
  if (response.statusCode !== 201) throw failure('register', response, options.describe)
  return (JSON.parse(response.body) as { data: { id: string } }).data.id
}

/** Logs in through POST /api/login; returns the access token and the cookies the login set. */
export async function logIn(bank: PostToBank, credentials: Credentials, options: HelperOptions = {}) {
  const response = await bank('/api/login', credentials, options.headers)
  if (response.statusCode !== 200) throw failure('login', response, options.describe)
  const accessToken = (JSON.parse(response.body) as { data: string }).data
  // `__Host-refresh_token` when the bank runs with COOKIE_SECURE=true.
  const refreshToken = response.cookies.refresh_token ?? response.cookies['__Host-refresh_token']
  return { accessToken, refreshToken, cookies: response.cookies }
}

/** A new user (a unique name unless given), registered and logged in. */
export async function registerAndLogIn(
  bank: PostToBank,
  { username = uniqueUsername(), password = TEST_PASSWORD, ...options }: Partial<Credentials> & HelperOptions = {},
) {
  const id = await register(bank, { username, password }, options)
  return { id, username, password, ...(await logIn(bank, { username, password }, options)) }
}
