// Password guessing and account enumeration at the bank (ASVS V2.2.1; OWASP Authentication Cheat Sheet).
// The bank trusts X-Forwarded-For from 127.0.0.1 here, so each test is "another client address" and the
// per-address budgets of one test never spend another's; the last test checks the header is ignored without it.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HttpClient, readCsrfToken, readJson } from '../support/http-client.js'
import { Services } from '../support/start-services.js'
import { expectNothingLeaked, PASSWORD, registerAndLogIn, uniqueUsername } from './support.js'

let services: Services
beforeAll(async () => {
  services = await Services.start({ bankEnv: { TRUST_PROXY: '127.0.0.1' } })
})
afterAll(async () => {
  await services?.stopAll()
})

const USERNAME_FAILURE_LIMIT = 10
const ADDRESS_LOGIN_LIMIT = 100
const ADDRESS_SIGN_UP_LIMIT = 20
const WINDOW_SECONDS = 15 * 60

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

let addressCount = 0
/** A client address of its own (believed because the bank trusts the proxy at 127.0.0.1). */
function newAddress(): Record<string, string> {
  addressCount += 1
  return { 'x-forwarded-for': `198.51.${Math.floor(addressCount / 250)}.${(addressCount % 250) + 1}` }
}

function login(username: string, password: string, headers: Record<string, string> = newAddress()) {
  return new HttpClient().sendJson('POST', `${services.bankUrl}/api/login`, { username, password }, headers)
}

async function expectRateLimited(response: Response, { maxRetryAfter = WINDOW_SECONDS } = {}) {
  expect(response.status).toBe(429)
  const retryAfter = Number(response.headers.get('retry-after'))
  expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= maxRetryAfter).toBe(true)
  expect(response.headers.getSetCookie()).toEqual([])
}

describe('per-username limit', () => {
  it('answers 429 with Retry-After after 10 wrong passwords, even to the right one, while another user logs in', async () => {
    const victim = await registerAndLogIn(services, { headers: newAddress() })
    for (let attempt = 0; attempt < USERNAME_FAILURE_LIMIT; attempt++) {
      const response = await login(victim.username, `wrong password ${attempt}`)
      expect(response.status).toBe(401)
      expect(response.headers.getSetCookie()).toEqual([])
    }
    const rightPassword = await login(victim.username, PASSWORD)
    await expectRateLimited(rightPassword)
    const body = await rightPassword.text()
    expect(JSON.parse(body)).toMatchObject({ status: 'error', code: 'SSO_RATE_LIMITED' })
    expect(body).not.toMatch(/eyJ/) // no token
    // Another user, from the very same address, is not affected.
    const other = await registerAndLogIn(services, { headers: newAddress() })
    expect((await login(other.username, PASSWORD)).status).toBe(200)
  })

  it('holds under parallel attempts: of 30 at once, at most 10 reach the password check', async () => {
    const victim = await registerAndLogIn(services, { headers: newAddress() })
    const statuses = await Promise.all(
      Array.from({ length: 30 }, (_, attempt) => login(victim.username, `parallel guess ${attempt}`)),
    ).then((responses) => responses.map((response) => response.status))
    expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(USERNAME_FAILURE_LIMIT)
    expect(statuses.filter((status) => status !== 401 && status !== 429)).toEqual([])
    expect(statuses).toContain(429)
    await expectRateLimited(await login(victim.username, PASSWORD))
  })

  it('locks a username given in another case or NFKC spelling as the same username', async () => {
    const victim = await registerAndLogIn(services, { headers: newAddress() })
    const spellings = [victim.username.toUpperCase(), victim.username.normalize('NFKC'), victim.username]
    for (let attempt = 0; attempt < USERNAME_FAILURE_LIMIT; attempt++) {
      const spelling = spellings[attempt % spellings.length] ?? victim.username
      expect((await login(spelling, `wrong password ${attempt}`)).status).toBe(401)
    }
    await expectRateLimited(await login(victim.username.toUpperCase(), PASSWORD))
  })

  it('locks an unknown username exactly like a known one (the lock reveals nothing)', async () => {
    const unknown = uniqueUsername('ghost')
    for (let attempt = 0; attempt < USERNAME_FAILURE_LIMIT; attempt++) {
      expect((await login(unknown, `wrong password ${attempt}`)).status).toBe(401)
    }
    await expectRateLimited(await login(unknown, PASSWORD))
  })

  it('shows the login form with 429 and Retry-After once the username is locked, and sets no login cookie', async () => {
    const victim = await registerAndLogIn(services, { headers: newAddress() })
    for (let attempt = 0; attempt < USERNAME_FAILURE_LIMIT; attempt++) {
      expect((await login(victim.username, `wrong password ${attempt}`)).status).toBe(401)
    }
    const address = newAddress()
    const browser = new HttpClient()
    const page = await browser.get(`${services.bankUrl}/login`, address)
    const response = await browser.postForm(
      `${services.bankUrl}/login`,
      { _csrf: readCsrfToken(await page.text()), username: victim.username, password: PASSWORD },
      address,
    )
    expect(response.status).toBe(429)
    expect(response.headers.get('content-type')).toMatch(/^text\/html/)
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(browser.jar.get('access_token')).toBeUndefined()
    expect(browser.jar.get('refresh_token')).toBeUndefined()
  })

  it('does not count a login refused because the server is busy (503) against the username', async () => {
    const victim = await registerAndLogIn(services, { headers: newAddress() })
    // Fill the bank's argon2 queue with other names' logins, in waves until it answers 503 (whatever its size),
    // then try the victim's name while it is full: a full queue takes seconds to drain.
    const filler: Array<Promise<Response>> = []
    let signalBusy = () => {}
    const busy = new Promise<void>((resolve) => {
      signalBusy = resolve
    })
    for (let wave = 0; wave < 8; wave++) {
      for (let index = 0; index < 80; index++) {
        const response = login(uniqueUsername('filler'), 'wrong password')
        response.then(
          (answer) => answer.status === 503 && signalBusy(),
          () => {},
        )
        filler.push(response)
      }
      const sawBusy = await Promise.race([busy.then(() => true), sleep(150).then(() => false)])
      if (sawBusy) break
    }
    const during = await Promise.all(
      Array.from({ length: USERNAME_FAILURE_LIMIT }, (_, attempt) =>
        login(victim.username, `wrong guess number ${attempt}`),
      ),
    )
    const fillerStatuses = (await Promise.all(filler)).map((response) => response.status)
    const duringStatuses = during.map((response) => response.status)
    expect(
      fillerStatuses.every((status) => status === 401 || status === 503),
      `${fillerStatuses}`,
    ).toBe(true)
    expect(
      duringStatuses.every((status) => status === 401 || status === 503),
      `${duringStatuses}`,
    ).toBe(true)
    for (const response of during.filter((candidate) => candidate.status === 503)) {
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0)
    }
    // The point of the test needs some refused attempts; on a machine fast enough to never be busy it proves less.
    expect(duringStatuses, `victim attempts during overload: ${duringStatuses}`).toContain(503)
    // Only the attempts that reached the password check count: fewer than 10, so the right password still works.
    const rightPassword = await login(victim.username, PASSWORD)
    expect(rightPassword.status, await rightPassword.clone().text()).toBe(200)
  })
})

/**
 * Spends an address's login budget with requests the schema refuses (no argon2 work, still counted), 20 at a time;
 * `headersFor` gives each attempt its headers. Returns the statuses.
 */
async function spendLoginBudget(headersFor: (attempt: number) => Record<string, string>): Promise<number[]> {
  const statuses: number[] = []
  for (let batch = 0; batch < ADDRESS_LOGIN_LIMIT / 20; batch++) {
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        new HttpClient().sendJson(
          'POST',
          `${services.bankUrl}/api/login`,
          { username: 'x' },
          headersFor(batch * 20 + index),
        ),
      ),
    )
    statuses.push(...responses.map((response) => response.status))
  }
  return statuses
}

describe('per-address limit', () => {
  it('answers 429 with Retry-After to the JSON login once an address spent its budget; other addresses log in', async () => {
    const user = await registerAndLogIn(services, { headers: newAddress() })
    const address = newAddress()
    expect((await spendLoginBudget(() => address)).every((status) => status === 400)).toBe(true)
    const refused = await login(user.username, PASSWORD, address)
    await expectRateLimited(refused)
    expect(await readJson(refused)).toMatchObject({ status: 'error', code: 'SSO_RATE_LIMITED' })
    expect((await login(user.username, PASSWORD, newAddress())).status).toBe(200)
  })

  it('believes only the address the trusted proxy saw: entries a client prepends buy no new budget', async () => {
    const user = await registerAndLogIn(services, { headers: newAddress() })
    const realAddress = newAddress()['x-forwarded-for'] ?? ''
    // What a proxy forwards when the client sent its own X-Forwarded-For: the real address comes last.
    await spendLoginBudget((attempt) => ({ 'x-forwarded-for': `203.0.113.${attempt + 1}, ${realAddress}` }))
    await expectRateLimited(await login(user.username, PASSWORD, { 'x-forwarded-for': `192.0.2.200, ${realAddress}` }))
  })

  it('answers the login form with an HTML page (429, Retry-After) once the address spent its budget', async () => {
    const user = await registerAndLogIn(services, { headers: newAddress() })
    const address = newAddress()
    const browser = new HttpClient()
    const csrf = readCsrfToken(await (await browser.get(`${services.bankUrl}/login`, address)).text())
    expect((await spendLoginBudget(() => address)).every((status) => status === 400)).toBe(true)
    const response = await browser.postForm(
      `${services.bankUrl}/login`,
      { _csrf: csrf, username: user.username, password: PASSWORD },
      address,
    )
    expect(response.status).toBe(429)
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(response.headers.get('content-type')).toMatch(/^text\/html/)
    const page = await response.text()
    expect(page).toMatch(/<form[^>]+action="\/login"/)
    expect(page).toMatch(/try again/i)
    expect(browser.jar.get('access_token')).toBeUndefined()
  })

  it('answers the sign-up form with an HTML page (429, Retry-After) once the address spent its sign-up budget', async () => {
    const address = newAddress()
    const browser = new HttpClient()
    const csrf = readCsrfToken(await (await browser.get(`${services.bankUrl}/register`, address)).text())
    for (let attempt = 0; attempt < ADDRESS_SIGN_UP_LIMIT; attempt++) {
      // A too-short password: refused before any hashing, still counted.
      const response = await browser.postForm(
        `${services.bankUrl}/register`,
        { _csrf: csrf, username: uniqueUsername('s'), password: 'short' },
        address,
      )
      expect(response.status).toBe(400)
    }
    const username = uniqueUsername('s')
    const response = await browser.postForm(
      `${services.bankUrl}/register`,
      { _csrf: csrf, username, password: PASSWORD },
      address,
    )
    expect(response.status).toBe(429)
    expect(response.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await response.text()).toMatch(/<form[^>]+action="\/register"/)
    // The account was not created: its name is still free.
    const later = await new HttpClient().sendJson(
      'POST',
      `${services.bankUrl}/api/register`,
      { username, password: PASSWORD },
      newAddress(),
    )
    expect(later.status).toBe(201)
  })
})

describe('enumeration', () => {
  it('gives an unknown username and a wrong password the same status, headers and body', async () => {
    const user = await registerAndLogIn(services, { headers: newAddress() })
    const wrongPassword = await login(user.username, 'not the password at all')
    const unknownUser = await login(uniqueUsername('nobody'), 'not the password at all')
    expect(wrongPassword.status).toBe(401)
    expect(unknownUser.status).toBe(401)
    const wrongBody = await wrongPassword.text()
    expect(await unknownUser.text()).toBe(wrongBody)
    expect(JSON.parse(wrongBody)).toEqual({
      status: 'error',
      error: 'Invalid username/password',
      code: 'SSO_INVALID_CREDENTIALS',
    })
    for (const name of ['content-type', 'www-authenticate', 'retry-after', 'set-cookie']) {
      expect(unknownUser.headers.get(name), name).toBe(wrongPassword.headers.get(name))
    }
    expectNothingLeaked(wrongBody, [user.username, user.id])
  })

  it('gives both the same login page, but for the username typed', async () => {
    const user = await registerAndLogIn(services, { headers: newAddress() })
    const unknown = uniqueUsername('nobody').slice(0, user.username.length)
    const pages: string[] = []
    for (const username of [user.username, unknown]) {
      const address = newAddress()
      const browser = new HttpClient()
      const csrf = readCsrfToken(await (await browser.get(`${services.bankUrl}/login`, address)).text())
      const response = await browser.postForm(
        `${services.bankUrl}/login`,
        { _csrf: csrf, username, password: 'not the password at all' },
        address,
      )
      expect(response.status).toBe(401)
      pages.push(
        (await response.text()).replace(/name="_csrf" value="[^"]+"/, '').replace(new RegExp(username, 'g'), '<typed>'),
      )
    }
    expect(pages[1]).toBe(pages[0])
  })

  it('takes comparable time for an unknown username and a wrong password: both do the argon2 work', async () => {
    const user = await registerAndLogIn(services, { headers: newAddress() })
    /** The fastest of a few runs: load only ever adds time, so the minimum is the least noisy measure. */
    const timings = { wrongPassword: [] as number[], unknownUser: [] as number[] }
    // Interleaved, so a burst of load on the machine hits both paths alike; 4 rounds stay under the lock limit.
    for (let round = 0; round < 4; round++) {
      for (const path of ['wrongPassword', 'unknownUser'] as const) {
        const username = path === 'wrongPassword' ? user.username : uniqueUsername('nobody')
        const started = performance.now()
        const response = await login(username, `not the password ${randomBytes(4).toString('hex')}`)
        timings[path].push(performance.now() - started)
        expect(response.status).toBe(401)
      }
    }
    const fastest = (values: number[]) => Math.min(...values)
    const ratio = fastest(timings.unknownUser) / fastest(timings.wrongPassword)
    // Skipping argon2 would make the unknown user ~20x faster; a generous band is a property, not a benchmark.
    expect(ratio, JSON.stringify(timings)).toBeGreaterThan(0.4)
    expect(ratio, JSON.stringify(timings)).toBeLessThan(2.5)
  })
})

describe('without TRUST_PROXY', () => {
  it('ignores X-Forwarded-For: changing it does not buy a new per-address budget', async () => {
    await services.restart('bank', { TRUST_PROXY: undefined })
    const user = await registerAndLogIn(services)
    await spendLoginBudget((attempt) => ({ 'x-forwarded-for': `203.0.113.${attempt + 1}` }))
    await expectRateLimited(await login(user.username, PASSWORD, { 'x-forwarded-for': '192.0.2.77' }))
  })
})
