// Open redirects through `return_to` (ASVS V5.1.5; OWASP Unvalidated Redirects Cheat Sheet). Each hostile value is
// tried where the bank follows it — a signed-in GET /login, a POST /login, and the hidden field of the login and
// sign-up forms — and no Location or form field may ever point outside the two public origins.
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HttpClient, readCsrfToken } from '../support/http-client.js'
import { Services } from '../support/start-services.js'
import { PASSWORD, registerAndLogIn, type TestUser } from './support.js'

let services: Services
let user: TestUser
beforeAll(async () => {
  services = await Services.start()
  user = await registerAndLogIn(services)
})
afterAll(async () => {
  await services?.stopAll()
})

const hostile: Array<[string, () => string]> = [
  ['a scheme-relative URL', () => '//evil.example'],
  ['three slashes', () => '///evil.example/'],
  ['a dot segment before a scheme-relative URL', () => '/.//evil.example/x'],
  ['a parent segment before a scheme-relative URL', () => '/foo/..//evil.example'],
  ['an encoded dot segment before a scheme-relative URL', () => '/%2e//evil.example'],
  ['a slash and a backslash', () => '/\\evil.example'],
  ['a backslash and a slash', () => '\\/evil.example'],
  ['backslashes after the scheme', () => 'http:\\\\evil.example'],
  ['a tab inside the slashes', () => '/\t/evil.example'],
  ['another origin', () => 'https://evil.example/'],
  ['another origin in mixed case', () => 'HtTpS://EvIl.ExAmPlE/'],
  ['a look-alike of the bank host', () => `${services.bankUrl}.evil.example/`],
  ['a look-alike of the retirement host', () => `${services.retirementUrl}.evil.example/`],
  ['credentials before a foreign host', () => `${services.retirementUrl}@evil.example/`],
  ['a backslash before the allowed host', () => `http://evil.example\\@${new URL(services.bankUrl).host}/`],
  ['the retirement host over https', () => services.retirementUrl.replace('http:', 'https:')],
  ['the bank by IP instead of its public name', () => services.bankUrl.replace('localhost', '127.0.0.1')],
  ['a javascript: URL', () => 'javascript:alert(document.cookie)'],
  ['a JavaScript: URL in mixed case', () => 'JaVaScRiPt:alert(1)'],
  ['a javascript: URL with a newline inside', () => 'java\nscript:alert(1)'],
  ['a data: URL', () => 'data:text/html,<script>alert(1)</script>'],
  ['an encoded scheme-relative URL', () => '%2F%2Fevil.example'],
  ['a leading space', () => ' //evil.example'],
  ['a header injection', () => '/\r\nLocation: https://evil.example'],
  ['a scheme without slashes', () => 'https:evil.example'],
]

/** A Location (or form value) is safe when it is a bank path or a URL on exactly one of the two public origins. */
function expectSafeTarget(target: string | null) {
  expect(target).not.toBeNull()
  const value = target ?? ''
  expect(value).not.toMatch(/evil|javascript|data:/i)
  expect(value).not.toMatch(/^\/\/|^\/\\|\\/)
  const allowed = [new URL(services.bankUrl).origin, new URL(services.retirementUrl).origin]
  expect(allowed).toContain(new URL(value, services.bankUrl).origin)
}

function loginUrl(path: '/login' | '/register', returnTo: string) {
  return `${services.bankUrl}${path}?${new URLSearchParams({ return_to: returnTo })}`
}

describe.each(hostile)('return_to as %s', (_name, value) => {
  it('a signed-in GET /login redirects only within the two apps', async () => {
    const response = await user.client.get(loginUrl('/login', value()))
    expect(response.status).toBe(303)
    expectSafeTarget(response.headers.get('location'))
  })

  it('the login and sign-up forms never carry it', async () => {
    for (const path of ['/login', '/register'] as const) {
      const response = await new HttpClient().get(loginUrl(path, value()))
      expect(response.status).toBe(200)
      const page = await response.text()
      const field = /name="return_to" value="([^"]*)"/.exec(page)?.[1]
      // The field is left out when return_to fell back to the default; when present, it must be safe.
      if (field !== undefined) expectSafeTarget(field.replace(/&amp;/g, '&'))
      expect(page).not.toMatch(/evil\.example|javascript:|data:text/i)
    }
  })

  it('POST /login redirects only within the two apps', async () => {
    const browser = new HttpClient()
    const csrf = readCsrfToken(await (await browser.get(`${services.bankUrl}/login`)).text())
    const response = await browser.postForm(`${services.bankUrl}/login`, {
      _csrf: csrf,
      username: user.username,
      password: PASSWORD,
      return_to: value(),
    })
    expect(response.status).toBe(303)
    expectSafeTarget(response.headers.get('location'))
  })
})

describe('allowed targets (the control)', () => {
  it('follows a path on the bank and a page on retirement', async () => {
    const path = await user.client.get(loginUrl('/login', '/accounts?tab=1'))
    expect(path.headers.get('location')).toBe('/accounts?tab=1')
    const retirement = await user.client.get(loginUrl('/login', `${services.retirementUrl}/`))
    expect(retirement.headers.get('location')).toBe(`${services.retirementUrl}/`)
  })

  it('treats a repeated return_to (one allowed, one hostile) as absent', async () => {
    const response = await user.client.get(
      `${services.bankUrl}/login?return_to=%2Faccounts&return_to=${encodeURIComponent('https://evil.example/')}`,
    )
    expect(response.status).toBe(303)
    expectSafeTarget(response.headers.get('location'))
  })

  it('carries an allowed return_to in the login form, so the checks above are not vacuous', async () => {
    const page = await (await new HttpClient().get(loginUrl('/login', `${services.retirementUrl}/`))).text()
    expect(page).toContain(`name="return_to" value="${services.retirementUrl}/"`)
  })
})

describe('retirement’s own redirect to the bank', () => {
  /** A raw request, so the Host header can be a lie (fetch would not send one). */
  function getWithHost(url: string, host: string): Promise<{ status: number; location: string | undefined }> {
    return new Promise((resolve, reject) => {
      const request = httpRequest(url, { headers: { host }, timeout: 10_000 }, (response) => {
        response.resume()
        resolve({ status: response.statusCode ?? 0, location: response.headers.location })
      })
      request.on('error', reject)
      request.end()
    })
  }

  it('builds the return address from its public URL, never from a forged Host header', async () => {
    const { status, location } = await getWithHost(`${services.retirementUrl}/`, 'evil.example')
    expect(status).toBe(303)
    expect(location?.startsWith(`${services.bankUrl}/login?return_to=`)).toBe(true)
    expect(location).not.toMatch(/evil/)
    const returnTo = new URL(location ?? '').searchParams.get('return_to') ?? ''
    expect(new URL(returnTo).origin).toBe(new URL(services.retirementUrl).origin)
  })

  /** A raw request line, so the target can be in absolute form (`GET http://evil.example/ HTTP/1.1`, as to a proxy). */
  function rawGet(port: number, target: string): Promise<string> {
    return new Promise((resolve, reject) => {
      let received = ''
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(`GET ${target} HTTP/1.1\r\nHost: localhost:${port}\r\nConnection: close\r\n\r\n`)
      })
      socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')))
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1')
      })
      socket.on('end', () => resolve(received))
      socket.on('error', reject)
    })
  }

  it.each([
    ['http://evil.example/', '/'],
    ['http://evil.example/?tab=history', '/?tab=history'],
    ['https://evil.example:8443/', '/'],
  ])(
    'builds the return address from its public URL and the path for the absolute-form target %s',
    async (target, path) => {
      const response = await rawGet(Number(new URL(services.retirementUrl).port), target)
      expect(response).toMatch(/^HTTP\/1\.1 303 /)
      const location = /\r\nlocation: ([^\r]*)\r\n/i.exec(response)?.[1] ?? ''
      expect(location.startsWith(`${services.bankUrl}/login?return_to=`)).toBe(true)
      expect(new URL(location).searchParams.get('return_to')).toBe(`${services.retirementUrl}${path}`)
      expect(location).not.toMatch(/evil/)
    },
  )

  it('keeps a path-only return address on retirement even for //evil.example as the path', async () => {
    const { status, location } = await getWithHost(`${services.retirementUrl}//evil.example`, 'localhost')
    expect([303, 404]).toContain(status)
    if (status === 303) {
      const returnTo = new URL(location ?? '').searchParams.get('return_to') ?? ''
      expect(new URL(returnTo).origin).toBe(new URL(services.retirementUrl).origin)
    }
  })
})
