// Nothing that authenticates anyone reaches a log line, at any level (ASVS V7.1.1, V7.1.2): both services run at
// LOG_LEVEL=trace while a user registers, logs in, refreshes, fails a login, uses both services by header and
// cookie, is refused with a bad token, and logs out; then every line either printed is searched.
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, HttpClient, readCsrfToken } from '../support/http-client.js'
import { E2E_SECRET, Services } from '../support/start-services.js'
import { forge, PASSWORD, registerAndLogIn, uniqueUsername } from './support.js'

const PREVIOUS_SECRET = 'an-older-rotation-key-that-must-stay-out-of-the-logs-9f3k'
const WRONG_PASSWORD = 'a wrong password that must not be logged'
const SECRET_QUERY = 'return_to=%2Fa-query-that-stays-out-of-request-logs'

/** Sends bytes as they are (latin1), which fetch would refuse, and waits for the server to close. */
function sendRawRequest(port: number, request: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.end(Buffer.from(request, 'latin1')))
    socket.on('data', () => {})
    socket.on('error', reject)
    socket.on('close', () => resolve())
  })
}

let services: Services
/** Every value that would let a reader of the logs act as someone, collected while driving the flow. */
const secrets = new Map<string, string>([
  ['JWT_SECRET', E2E_SECRET],
  ['JWT_PREVIOUS_SECRETS', PREVIOUS_SECRET],
  ['password', PASSWORD],
  ['wrong password', WRONG_PASSWORD],
])

beforeAll(async () => {
  services = await Services.start({ env: { LOG_LEVEL: 'trace', JWT_PREVIOUS_SECRETS: PREVIOUS_SECRET } })
  const user = await registerAndLogIn(services)
  secrets.set('first access token', user.accessToken)
  secrets.set('first refresh token', user.refreshToken)

  const refreshed = await user.client.request(`${services.bankUrl}/api/refresh`, { method: 'POST' })
  expect(refreshed.status).toBe(200)
  secrets.set('refreshed access token', user.client.jar.get('access_token') ?? '')
  secrets.set('rotated refresh token', user.client.jar.get('refresh_token') ?? '')

  // The cookie at retirement, the header at both, a forged token refused, a failed login, a reused refresh token.
  expect((await user.client.get(`${services.retirementUrl}/api/plan`)).status).toBe(200)
  expect((await user.client.get(`${services.bankUrl}/api/me`, bearer(user.accessToken))).status).toBe(200)
  const forged = forge(user, { claims: { username: 'admin' }, secret: 'not-the-key-not-the-key-not-the-key!!' })
  secrets.set('forged token', forged)
  expect((await user.client.get(`${services.retirementUrl}/api/me`, bearer(forged))).status).toBe(401)
  const failed = await new HttpClient().sendJson('POST', `${services.bankUrl}/api/login`, {
    username: user.username,
    password: WRONG_PASSWORD,
  })
  expect(failed.status).toBe(401)
  const unknown = await new HttpClient().sendJson('POST', `${services.bankUrl}/api/login`, {
    username: uniqueUsername('nobody'),
    password: WRONG_PASSWORD,
  })
  expect(unknown.status).toBe(401)
  // Once more, so the first refresh token is two generations old: reused whatever the grace for parallel tabs.
  expect((await user.client.request(`${services.bankUrl}/api/refresh`, { method: 'POST' })).status).toBe(200)
  const reuse = await new HttpClient().request(`${services.bankUrl}/api/refresh`, {
    method: 'POST',
    headers: { cookie: `refresh_token=${user.refreshToken}` },
  })
  expect(reuse.status).toBe(401)

  // The HTML forms too: a login through the form, its CSRF token and cookie.
  const browser = new HttpClient()
  const page = await (await browser.get(`${services.bankUrl}/login`)).text()
  const csrf = readCsrfToken(page)
  secrets.set('CSRF token', csrf)
  const formLogin = await browser.postForm(`${services.bankUrl}/login`, {
    _csrf: csrf,
    username: user.username,
    password: PASSWORD,
  })
  expect(formLogin.status).toBe(303)
  secrets.set('form access token', browser.jar.get('access_token') ?? '')
  secrets.set('form refresh token', browser.jar.get('refresh_token') ?? '')
  secrets.set('CSRF cookie', browser.jar.get('bank_csrf') ?? '')
  expect((await browser.request(`${services.bankUrl}/api/logout`, { method: 'POST' })).status).toBe(204)
  // A Host header with a C1 control character (U+009B, a terminal's CSI) and a query string, at both services.
  for (const url of [services.bankUrl, services.retirementUrl]) {
    const { port } = new URL(url)
    await sendRawRequest(
      Number(port),
      `GET /healthz?${SECRET_QUERY} HTTP/1.1\r\nHost: localhost\u009b31m\r\nConnection: close\r\n\r\n`,
    )
  }
  // Let the last lines arrive from the child processes' pipes.
  await new Promise((resolve) => setTimeout(resolve, 200))
})
afterAll(async () => {
  await services?.stopAll()
})

describe.each(['bank', 'retirement'] as const)('%s at LOG_LEVEL=trace', (name) => {
  it('printed request logs (the capture is real)', () => {
    const output = services[name].output.join('\n')
    expect(output).toMatch(/"msg":"incoming request"/)
    expect(output).toMatch(name === 'bank' ? /"url":"\/api\/login"/ : /"msg":"access token refused"/)
  })

  // Listed here because the tokens only exist once beforeAll ran, after the cases are collected.
  it.each([
    'JWT_SECRET',
    'JWT_PREVIOUS_SECRETS',
    'password',
    'wrong password',
    'first access token',
    'first refresh token',
    'refreshed access token',
    'rotated refresh token',
    'forged token',
    'CSRF token',
    'form access token',
    'form refresh token',
    'CSRF cookie',
  ])('never logs the %s', (label) => {
    const value = secrets.get(label) ?? ''
    expect(value.length, `${label} was captured`).toBeGreaterThanOrEqual(8)
    const lines = services[name].output.filter((line) => line.includes(value))
    expect(lines, `${label} in ${name}'s log`).toEqual([])
  })

  it('escapes DEL and C1 control characters in every line, and logs request paths without their query', () => {
    const output = services[name].output.join('\n')
    expect(output).toContain('\\u009b31m') // the Host header was logged, escaped
    expect(output).not.toMatch(/[\u007f-\u009f]/)
    expect(output).toMatch(/"url":"\/healthz"/)
    expect(output).not.toContain('a-query-that-stays-out-of-request-logs')
  })

  it('never logs any JWT-looking string or a refresh token in any form (signature part included)', () => {
    for (const line of services[name].output) {
      expect(line).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+/)
      for (const label of ['first refresh token', 'rotated refresh token']) {
        // The token's secret part: its longest segment (the session id it also names is no secret, logs carry it).
        const secretPart = (secrets.get(label) ?? '').split('.').reduce((a, b) => (b.length > a.length ? b : a), '')
        // Any 16-character stretch of it: a log that prints half of it is still a leak.
        expect(line).not.toContain(secretPart.slice(10, 26))
      }
    }
  })
})
