// The mission in a real browser: log in once at the bank, follow the dashboard's link, and retirement knows you.
import { existsSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Services } from './support/start-services.js'

// Debian's package (`.ci/run` installs it when missing); CHROMIUM_PATH points elsewhere on other systems.
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const hasChromium = existsSync(chromiumPath)
const isCi = process.env.CI === 'true'
const artifactsDir = join(dirname(fileURLToPath(import.meta.url)), 'artifacts')
const navigationTimeoutMs = 10_000

if (!hasChromium && !isCi) {
  console.warn(
    `browser test skipped: no Chromium at ${chromiumPath}; install Debian's package: apt-get install chromium`,
  )
}

describe.skipIf(!hasChromium && !isCi)('in a real browser (Chromium)', () => {
  let services: Services
  let browser: Browser

  beforeAll(async () => {
    if (!hasChromium) {
      throw new Error(`CI=true and no Chromium at ${chromiumPath}: install Debian's package: apt-get install chromium`)
    }
    services = await Services.start()
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      timeout: 30_000,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    })
  })
  afterAll(async () => {
    await browser?.close()
    await services?.stopAll()
  })

  it('logs in once at the bank, follows the dashboard link and contributes at retirement with no second login', async () => {
    // A new context is a fresh profile: no cookies from anything before.
    const context = await browser.newContext()
    const page = await context.newPage()
    page.setDefaultTimeout(navigationTimeoutMs)
    try {
      const username = `browser_${Date.now().toString(36)}`
      const password = 'a long browser password'

      await page.goto(`${services.bankUrl}/register`)
      await fillCredentials(page, username, password)
      // Sign-up may log the user in straight away; if it sends them to the login form instead, log in there.
      if (new URL(page.url()).pathname === '/login') await fillCredentials(page, username, password)
      expect(new URL(page.url()).pathname, await page.content()).toBe('/')
      await expect.poll(() => page.textContent('body')).toContain(username)

      // The dashboard's link to retirement: a plain top-level navigation, so the SameSite=Lax cookie goes along.
      await Promise.all([
        page.waitForURL(`${services.retirementUrl}/**`),
        page.click(`a[href^="${services.retirementUrl}"]`),
      ])
      expect(page.url()).toBe(`${services.retirementUrl}/`)
      expect(await page.textContent('#greeting')).toBe(`Hello, ${username}.`)
      expect(await page.textContent('#balance')).toBe('$0.00')

      await page.fill('input[name="amount"]', '125.50')
      await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')])
      await expect.poll(() => page.textContent('#balance')).toBe('$125.50')
      expect(await page.textContent('table')).toContain('$125.50')

      mkdirSync(artifactsDir, { recursive: true })
      await page.screenshot({ path: join(artifactsDir, 'retirement-after-contribution.png'), fullPage: true })

      // The access token expires (here: its cookie is dropped) while the login session lives: the trip through the
      // bank's login is silent, and the user is back on the plan without seeing a form.
      await context.clearCookies({ name: 'access_token' })
      const visited: string[] = []
      page.on('framenavigated', (frame) => {
        if (frame === page.mainFrame()) visited.push(frame.url())
      })
      await page.goto(`${services.retirementUrl}/`)
      expect(page.url()).toBe(`${services.retirementUrl}/`)
      expect(await page.textContent('#greeting')).toBe(`Hello, ${username}.`)
      expect(visited.some((url) => url.startsWith(`${services.bankUrl}/login`))).toBe(false)
      expect((await context.cookies(services.retirementUrl)).map((cookie) => cookie.name)).toContain('access_token')
    } finally {
      await context.close()
    }
  })

  it('sends a browser with no login from retirement to the bank login, and back after logging in', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    page.setDefaultTimeout(navigationTimeoutMs)
    try {
      const username = `roundtrip_${Date.now().toString(36)}`
      const password = 'another long password'
      // Create the account through the API so this test is only about the redirect round trip.
      const registered = await fetch(`${services.bankUrl}/api/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
      })
      expect(registered.status).toBe(201)

      await page.goto(`${services.retirementUrl}/`)
      expect(new URL(page.url()).origin).toBe(services.bankUrl)
      expect(new URL(page.url()).pathname).toBe('/login')
      await fillCredentials(page, username, password)
      await page.waitForURL(`${services.retirementUrl}/`)
      expect(await page.textContent('#greeting')).toBe(`Hello, ${username}.`)
    } finally {
      await context.close()
    }
  })

  it('two retirement tabs coming back together after the access token expired both land greeted, still signed in', async () => {
    const context = await browser.newContext()
    try {
      const username = `tabs_${Date.now().toString(36)}`
      const password = 'a long two-tab password'
      const page = await context.newPage()
      page.setDefaultTimeout(navigationTimeoutMs)
      await page.goto(`${services.bankUrl}/register`)
      await fillCredentials(page, username, password)
      if (new URL(page.url()).pathname === '/login') await fillCredentials(page, username, password)
      const tabs = [await context.newPage(), await context.newPage()]
      for (const tab of tabs) {
        tab.setDefaultTimeout(navigationTimeoutMs)
        await tab.goto(`${services.retirementUrl}/`)
        expect(await tab.textContent('#greeting')).toBe(`Hello, ${username}.`)
      }

      // The access token expires (its cookie is dropped); both tabs reload at once, each taking the silent trip
      // through the bank's GET /login with the same refresh cookie.
      await context.clearCookies({ name: 'access_token' })
      await Promise.all(tabs.map((tab) => tab.reload()))
      for (const tab of tabs) {
        expect(tab.url()).toBe(`${services.retirementUrl}/`)
        expect(await tab.textContent('#greeting')).toBe(`Hello, ${username}.`)
      }
      // The session was neither revoked nor forked: the bank still greets the user, with one session listed.
      await page.goto(`${services.bankUrl}/`)
      expect(new URL(page.url()).pathname).toBe('/')
      expect(await page.textContent('body')).toContain(username)
      expect(await page.locator('#sessions tbody tr').count()).toBe(1)
    } finally {
      await context.close()
    }
  })

  it('single logout: signed out at the bank, a reload of the retirement tab lands on the bank login page', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    page.setDefaultTimeout(navigationTimeoutMs)
    try {
      const username = `leaver_${Date.now().toString(36)}`
      const password = 'a long leaving password'
      await page.goto(`${services.bankUrl}/register`)
      await fillCredentials(page, username, password)
      if (new URL(page.url()).pathname === '/login') await fillCredentials(page, username, password)

      // Two tabs: retirement open in one, the bank's dashboard in the other.
      const retirementTab = await context.newPage()
      retirementTab.setDefaultTimeout(navigationTimeoutMs)
      await retirementTab.goto(`${services.retirementUrl}/`)
      expect(await retirementTab.textContent('#greeting')).toBe(`Hello, ${username}.`)

      await page.goto(`${services.bankUrl}/`)
      await Promise.all([page.waitForURL(`${services.bankUrl}/login`), page.click('header button[type="submit"]')])

      await retirementTab.reload()
      expect(new URL(retirementTab.url()).origin).toBe(services.bankUrl)
      expect(new URL(retirementTab.url()).pathname).toBe('/login')
      expect(await retirementTab.isVisible('input[name="password"]')).toBe(true)
    } finally {
      await context.close()
    }
  })

  it('single logout: "Sign out everywhere" on another device sends this browser\'s retirement tab to the login page', async () => {
    // This browser keeps its cookies: only the back-channel notice can tell retirement that its token is revoked.
    const here = await browser.newContext()
    const elsewhere = await browser.newContext()
    try {
      const username = `everywhere_${Date.now().toString(36)}`
      const password = 'a long everywhere password'
      const registered = await fetch(`${services.bankUrl}/api/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
      })
      expect(registered.status).toBe(201)
      const page = await here.newPage()
      page.setDefaultTimeout(navigationTimeoutMs)
      await page.goto(`${services.retirementUrl}/`)
      await fillCredentials(page, username, password)
      await page.waitForURL(`${services.retirementUrl}/`)
      expect(await page.textContent('#greeting')).toBe(`Hello, ${username}.`)

      const phone = await elsewhere.newPage()
      phone.setDefaultTimeout(navigationTimeoutMs)
      await phone.goto(`${services.bankUrl}/login`)
      await fillCredentials(phone, username, password)
      expect(await phone.locator('#sessions tbody tr').count()).toBe(2)
      await Promise.all([
        phone.waitForURL(`${services.bankUrl}/login`),
        phone.click('#sessions button:has-text("Sign out everywhere")'),
      ])

      // The notice lands within seconds; reload (bounded) until retirement sends this browser to the bank.
      const deadline = Date.now() + 5_000
      do {
        await page.reload()
      } while (new URL(page.url()).origin !== services.bankUrl && Date.now() < deadline)
      expect(new URL(page.url()).origin).toBe(services.bankUrl)
      expect(new URL(page.url()).pathname).toBe('/login')
      expect(await page.isVisible('input[name="password"]')).toBe(true)
      expect((await here.cookies(services.retirementUrl)).map((cookie) => cookie.name)).not.toContain('refresh_token')
    } finally {
      await here.close()
      await elsewhere.close()
    }
  })

  it('signs out from retirement: "Sign out" shows the bank\'s confirm form, and confirming ends at the bank login', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    page.setDefaultTimeout(navigationTimeoutMs)
    try {
      const username = `signout_${Date.now().toString(36)}`
      await registerThenOpenRetirement(page, services, username, 'a long sign-out password')
      await signOutFromRetirement(page, services)
    } finally {
      await context.close()
    }
  })

  it("shows each service's API docs page, operations listed, with no Content-Security-Policy violation", async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    page.setDefaultTimeout(navigationTimeoutMs)
    const violations: string[] = []
    page.on('console', (message) => {
      if (message.text().includes('Content Security Policy')) violations.push(message.text())
    })
    try {
      for (const [serviceUrl, operation] of [
        [services.bankUrl, '/api/login'],
        [services.retirementUrl, '/api/plan'],
      ] as const) {
        await page.goto(`${serviceUrl}/docs`)
        // Swagger UI draws the operations from /docs/json with its own scripts: the CSP let them run.
        await expect.poll(() => page.locator('.opblock-summary-path').allTextContents()).toContain(operation)
      }
      expect(violations).toEqual([])
    } finally {
      await context.close()
    }
  })
})

// Chromium treats http://localhost as a secure context, so Secure and __Host- cookies work there over plain http.
describe.skipIf(!hasChromium && !isCi)('in a real browser with COOKIE_SECURE=true (__Host-refresh_token)', () => {
  let services: Services
  let browser: Browser

  beforeAll(async () => {
    if (!hasChromium) throw new Error(`CI=true and no Chromium at ${chromiumPath}`)
    services = await Services.start({ env: { COOKIE_SECURE: 'true' } })
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      timeout: 30_000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    })
  })
  afterAll(async () => {
    await browser?.close()
    await services?.stopAll()
  })

  it('signs up, reaches retirement, refreshes silently and signs out, all with Secure cookies', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    page.setDefaultTimeout(navigationTimeoutMs)
    try {
      const username = `secure_${Date.now().toString(36)}`
      await registerThenOpenRetirement(page, services, username, 'a long secure password')

      const bankCookies = await context.cookies(services.bankUrl)
      const refresh = bankCookies.find((cookie) => cookie.name === '__Host-refresh_token')
      expect(refresh).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Lax', path: '/' })
      expect(bankCookies.map((cookie) => cookie.name)).not.toContain('refresh_token')
      expect(bankCookies.find((cookie) => cookie.name === 'access_token')?.secure).toBe(true)

      // The access token is gone; the trip through the bank's login is silent thanks to __Host-refresh_token,
      // which the bank rotates on the way (the redirects show no page, so the new cookie is the proof).
      await context.clearCookies({ name: 'access_token' })
      await page.goto(`${services.retirementUrl}/`)
      expect(page.url()).toBe(`${services.retirementUrl}/`)
      expect(await page.textContent('#greeting')).toBe(`Hello, ${username}.`)
      const rotated = (await context.cookies(services.bankUrl)).find((cookie) => cookie.name === '__Host-refresh_token')
      expect(rotated?.value).toBeTruthy()
      expect(rotated?.value).not.toBe(refresh?.value)

      await signOutFromRetirement(page, services)
      expect((await context.cookies(services.bankUrl)).map((cookie) => cookie.name)).not.toContain(
        '__Host-refresh_token',
      )
    } finally {
      await context.close()
    }
  })
})

/** Fills the username and password of the page's form and submits it, waiting for the page that follows. */
async function fillCredentials(page: Page, username: string, password: string) {
  await page.fill('input[name="username"]', username)
  await page.fill('input[name="password"]', password)
  await Promise.all([page.waitForNavigation(), page.press('input[name="password"]', 'Enter')])
}

/** Signs up at the bank through its form (logging in if sign-up does not), then follows the link to retirement. */
async function registerThenOpenRetirement(page: Page, services: Services, username: string, password: string) {
  await page.goto(`${services.bankUrl}/register`)
  await fillCredentials(page, username, password)
  if (new URL(page.url()).pathname === '/login') await fillCredentials(page, username, password)
  expect(new URL(page.url()).pathname, await page.content()).toBe('/')
  await Promise.all([
    page.waitForURL(`${services.retirementUrl}/**`),
    page.click(`a[href^="${services.retirementUrl}"]`),
  ])
  expect(await page.textContent('#greeting')).toBe(`Hello, ${username}.`)
}

/**
 * Clicks retirement's "Sign out": the bank's confirm page signs nobody out (retirement still knows the user), and
 * its button ends at the bank login, after which retirement sends the browser to the bank to log in.
 */
async function signOutFromRetirement(page: Page, services: Services) {
  await Promise.all([page.waitForURL(`${services.bankUrl}/logout**`), page.click('#sign-out')])
  expect(await page.isVisible('form[action="/logout"] button')).toBe(true)
  const retirementTab = await page.context().newPage()
  retirementTab.setDefaultTimeout(navigationTimeoutMs)
  await retirementTab.goto(`${services.retirementUrl}/`)
  expect(new URL(retirementTab.url()).origin, 'GET /logout must not sign out').toBe(services.retirementUrl)
  await retirementTab.close()

  await Promise.all([page.waitForURL(`${services.bankUrl}/login`), page.click('form[action="/logout"] button')])
  expect(await page.isVisible('input[name="password"]')).toBe(true)
  await page.goto(`${services.retirementUrl}/`)
  expect(new URL(page.url()).origin).toBe(services.bankUrl)
  expect(new URL(page.url()).pathname).toBe('/login')
}
