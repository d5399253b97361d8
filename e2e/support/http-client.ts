import type { PostToBank } from '@sso/shared/testing'

// A browser's cookie handling, reduced to what these tests need, over Node's fetch. Every service here is on
// `localhost` (ports differ, and cookies ignore ports), all cookies use `Path=/`, so cookies are keyed by name alone.

interface StoredCookie {
  value: string
  expiresAt: number | undefined
  attributes: string[]
}

/** Keeps the cookies of one "browser" across requests to both services. */
export class CookieJar {
  private readonly cookies = new Map<string, StoredCookie>()

  /** Applies every Set-Cookie of a response: new values, and removal by `Max-Age=0` or a past `Expires`. */
  store(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = header.split(';').map((part) => part.trim())
      const separator = pair.indexOf('=')
      if (separator <= 0) continue
      const name = pair.slice(0, separator)
      const value = pair.slice(separator + 1)
      const expiresAt = readExpiry(attributes)
      if (value === '' || (expiresAt !== undefined && expiresAt <= Date.now())) this.cookies.delete(name)
      else this.cookies.set(name, { value, expiresAt, attributes })
    }
  }

  get(name: string): string | undefined {
    const cookie = this.cookies.get(name)
    if (cookie?.expiresAt !== undefined && cookie.expiresAt <= Date.now()) return undefined
    return cookie?.value
  }

  /** The attributes the cookie was set with, lowercased, e.g. ['httponly', 'samesite=lax', 'path=/']. */
  attributesOf(name: string): string[] {
    return this.cookies.get(name)?.attributes.map((attribute) => attribute.toLowerCase()) ?? []
  }

  set(name: string, value: string): void {
    this.cookies.set(name, { value, expiresAt: undefined, attributes: [] })
  }

  delete(name: string): void {
    this.cookies.delete(name)
  }

  /** The Cookie header a browser would send, or undefined with no cookies. */
  header(): string | undefined {
    const pairs = [...this.cookies.keys()].flatMap((name) => {
      const value = this.get(name)
      return value === undefined ? [] : [`${name}=${value}`]
    })
    return pairs.length > 0 ? pairs.join('; ') : undefined
  }
}

function readExpiry(attributes: string[]): number | undefined {
  for (const attribute of attributes) {
    const [key = '', value = ''] = attribute.split('=', 2)
    if (key.toLowerCase() === 'max-age') return Date.now() + Number(value) * 1000
  }
  for (const attribute of attributes) {
    const separator = attribute.indexOf('=')
    if (attribute.slice(0, separator).toLowerCase() === 'expires') return Date.parse(attribute.slice(separator + 1))
  }
  return undefined
}

const requestTimeoutMs = 10_000

/** fetch with a cookie jar, no automatic redirects (tests assert each 303) and a bounded wait. */
export class HttpClient {
  constructor(readonly jar: CookieJar = new CookieJar()) {}

  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers)
    const cookie = this.jar.header()
    if (cookie !== undefined && !headers.has('cookie')) headers.set('cookie', cookie)
    const response = await fetch(url, {
      ...init,
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(requestTimeoutMs),
    })
    this.jar.store(response)
    return response
  }

  get(url: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.request(url, { headers })
  }

  /** A JSON request as an API client (or the apps' own scripts) would send it. */
  sendJson(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return this.request(url, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  }

  /** A form post, as a browser submits an HTML form. */
  postForm(url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    })
  }
}

/** The hidden `_csrf` field of the first form on a page. */
export function readCsrfToken(html: string): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1]
  if (!token) throw new Error(`no CSRF token in the page:\n${html.slice(0, 2_000)}`)
  return token
}

/** The Authorization header of an API client holding an access token. */
export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` }
}

/** The body of a JSON answer, loosely typed because the assertions on it say what it must be. */
export interface JsonBody {
  status?: 'ok' | 'error'
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary answers and assert their shape
  data?: any
  error?: string
  code?: string
}

export async function readJson(response: Response): Promise<JsonBody> {
  return (await response.json()) as JsonBody
}

/**
 * The testing helpers' way to the bank over HTTP (`registerAndLogIn(postingTo(client, bankUrl))`): the client's
 * jar keeps the cookies each response sets, as a browser would.
 */
export function postingTo(client: HttpClient, bankUrl: string): PostToBank {
  return async (path, payload, headers = {}) => {
    const response = await client.sendJson('POST', `${bankUrl}${path}`, payload, headers)
    const cookies = Object.fromEntries(
      response.headers.getSetCookie().map((header) => {
        const pair = header.split(';', 1)[0] ?? ''
        const separator = pair.indexOf('=')
        return [pair.slice(0, separator), pair.slice(separator + 1)]
      }),
    )
    return { statusCode: response.status, body: await response.text(), cookies }
  }
}
