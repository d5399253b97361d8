// Hostile sign-ups at the bank's JSON API (ASVS V2.1, V5.1): every refusal is a 4xx that creates nothing, and the
// strings that are accepted come back exactly as data, never as SQL or markup.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HttpClient, readJson } from '../support/http-client.js'
import { Services } from '../support/start-services.js'
import { expectNothingLeaked, PASSWORD, uniqueUsername } from './support.js'

let services: Services
beforeAll(async () => {
  // Enough sign-ups for this file from one address: the per-address budget is tested in brute-force.test.ts.
  services = await Services.start({ bankEnv: { TRUST_PROXY: '127.0.0.1' } })
})
afterAll(async () => {
  await services?.stopAll()
})

let addressCount = 0
function register(body: unknown, headers: Record<string, string> = {}) {
  addressCount += 1
  return new HttpClient().sendJson('POST', `${services.bankUrl}/api/register`, body, {
    'x-forwarded-for': `192.0.2.${addressCount % 250}`,
    ...headers,
  })
}

function login(username: string, password: string) {
  return new HttpClient().sendJson('POST', `${services.bankUrl}/api/login`, { username, password })
}

/** A refused sign-up: the status, the error shape, no internals, and the name still free afterwards. */
async function expectRefused(response: Response, status: number) {
  const text = await response.text()
  expect(response.status, text).toBe(status)
  expect(JSON.parse(text)).toMatchObject({ status: 'error', error: expect.any(String) })
  expect(JSON.parse(text)).not.toHaveProperty('data')
  expect(response.headers.getSetCookie().filter((cookie) => /^(access|refresh)_token=/.test(cookie))).toEqual([])
  expectNothingLeaked(text)
}

const short = () => randomBytes(4).toString('hex')

describe('usernames', () => {
  it.each([
    ['too short (2)', 'ab'],
    ['too long (33)', 'a'.repeat(33)],
    ['empty', ''],
    ['with a space', 'al ice'],
    ['with leading whitespace (never trimmed)', ' alice'],
    ['with trailing whitespace', 'alice '],
    ['with a NUL byte', 'ali\u0000ce'],
    ['with a Cyrillic look-alike', 'аlice'],
    ['with SQL', "x' OR '1'='1"],
    ['with markup', '<script>'],
    ['with a slash', 'a/b/c'],
    ['with an emoji', 'bob😀x'],
  ])('refuses a username %s (400) and creates no account', async (_name, username) => {
    await expectRefused(await register({ username, password: PASSWORD }), 400)
  })

  it('refuses a case-insensitive duplicate (409) and the original keeps its password', async () => {
    const username = uniqueUsername('dup')
    expect((await register({ username, password: PASSWORD })).status).toBe(201)
    await expectRefused(await register({ username: username.toUpperCase(), password: 'another password here' }), 409)
    expect((await login(username, PASSWORD)).status).toBe(200)
    expect((await login(username, 'another password here')).status).toBe(401)
  })

  it('refuses a fullwidth (NFKC) spelling of a taken name as a duplicate (409)', async () => {
    const username = `nf${short()}`
    expect((await register({ username, password: PASSWORD })).status).toBe(201)
    const fullwidth = [...username].map((char) => String.fromCharCode(char.charCodeAt(0) + 0xfee0)).join('')
    await expectRefused(await register({ username: fullwidth, password: 'another password here' }), 409)
  })

  it('stores a name with every allowed punctuation verbatim and returns it as data', async () => {
    const username = `a.b_c-${short()}`
    const response = await register({ username, password: PASSWORD })
    expect(response.status).toBe(201)
    expect((await readJson(response)).data).toEqual({ id: expect.any(String), username })
  })
})

describe('passwords', () => {
  it.each([
    ['7 characters', 'a'.repeat(7)],
    ['129 characters (never truncated)', 'a'.repeat(129)],
    ['with a NUL byte', 'correct horse\u0000battery'],
    ['empty', ''],
  ])('refuses a password of %s (400)', async (_name, password) => {
    await expectRefused(await register({ username: uniqueUsername(), password }), 400)
  })

  it('does not truncate: a 128-character password and the same with its last character changed differ', async () => {
    const username = uniqueUsername()
    const password = `${'p'.repeat(127)}1`
    expect((await register({ username, password })).status).toBe(201)
    expect((await login(username, `${'p'.repeat(127)}2`)).status).toBe(401)
    expect((await login(username, password)).status).toBe(200)
  })

  it('stores SQL and markup in a password as a password: it logs in with exactly that string', async () => {
    const username = uniqueUsername()
    const password = `'); DROP TABLE users; -- <script>`
    expect((await register({ username, password })).status).toBe(201)
    expect((await login(username, password)).status).toBe(200)
    expect((await login(username, "'); DROP TABLE users; --")).status).toBe(401)
  })
})

describe('request shape', () => {
  it.each([
    ['an array username', { username: ['alice'], password: PASSWORD }],
    ['a number username', { username: 12345, password: PASSWORD }],
    ['a number password', { username: 'numberpw', password: 123456789 }],
    ['a null password', { username: 'nullpw', password: null }],
    ['an object password', { username: 'objectpw', password: { $ne: '' } }],
    ['a missing password', { username: 'nopw' }],
    ['an extra property', { username: 'extraprop', password: PASSWORD, admin: true }],
    [
      'a __proto__ property',
      JSON.parse(`{"username":"protoprop","password":"${PASSWORD}","__proto__":{"admin":true}}`),
    ],
    ['an array body', [{ username: 'arraybody', password: PASSWORD }]],
    ['a string body', 'username=alice'],
  ])('refuses %s (400)', async (_name, body) => {
    await expectRefused(await register(body), 400)
  })

  it('refuses broken JSON (400) without echoing a parser stack', async () => {
    const response = await new HttpClient().request(`${services.bankUrl}/api/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"username": "alice", "password": ',
    })
    await expectRefused(response, 400)
  })

  it('refuses a body over the limit (413) before parsing it', async () => {
    const response = await register({ username: uniqueUsername(), password: PASSWORD, pad: 'x'.repeat(64 * 1024) })
    await expectRefused(response, 413)
  })

  it('refuses a form-encoded body at the JSON API (415)', async () => {
    const response = await new HttpClient().request(`${services.bankUrl}/api/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: uniqueUsername(), password: PASSWORD }).toString(),
    })
    await expectRefused(response, 415)
  })

  it('keeps the database intact after all of the above: a fresh sign-up and login work', async () => {
    const username = uniqueUsername()
    expect((await register({ username, password: PASSWORD })).status).toBe(201)
    expect((await login(username, PASSWORD)).status).toBe(200)
  })
})
