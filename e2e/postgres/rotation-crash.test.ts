// A bank killed with SIGKILL in the middle of a storm of refreshes, on PostgreSQL, leaves no half-rotation: every
// session's row is whole (one current token, its predecessor and when it rotated), no session is revoked or lost,
// and after a restart every session continues from the newest token its client saw. A rotation whose response the
// kill swallowed had either committed (the client's token is then the predecessor, which the grace window answers
// with the very successor that was committed) or not (the client's token is still current).
import { openDatabase } from '@sso/shared/db'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { BankDatabase } from '../../services/bank/src/db/bank-database.js'
import { bankMigrations } from '../../services/bank/src/db/migrations/index.js'
import { PASSWORD, registerAndLogIn } from '../security/support.js'
import { HttpClient } from '../support/http-client.js'
import { Services } from '../support/start-services.js'

const sessionCount = 40
const killAfterResponses = 200

let services: Services
beforeAll(async () => {
  if (inject('postgresUnavailable')) return
  // Each session refreshes from its own (forwarded) address, so the per-address refresh budget is not what stops it.
  services = await Services.start({ database: 'postgres', bankEnv: { TRUST_PROXY: '127.0.0.1' } })
})
afterAll(async () => {
  await services?.stopAll()
})

/** POST /api/refresh as a browser holding only this refresh token; the new token, or undefined if refused. */
async function refresh(refreshToken: string, address: string): Promise<{ status: number; refreshToken?: string }> {
  const client = new HttpClient()
  client.jar.set('refresh_token', refreshToken)
  const response = await client.request(`${services.bankUrl}/api/refresh`, {
    method: 'POST',
    headers: { 'x-forwarded-for': address },
  })
  await response.body?.cancel()
  const next = client.jar.get('refresh_token')
  return { status: response.status, ...(response.status === 200 && next ? { refreshToken: next } : {}) }
}

describe.skipIf(inject('postgresUnavailable') !== '')('a bank killed mid-rotation on PostgreSQL', () => {
  it('leaves every session whole, and each continues from the newest token its client saw', async () => {
    const user = await registerAndLogIn(services)
    const latest: string[] = []
    for (let index = 0; index < sessionCount; index++) {
      // A browser of its own each: a login ends the session whose refresh cookie the browser already holds.
      const browser = new HttpClient()
      const login = await browser.sendJson('POST', `${services.bankUrl}/api/login`, {
        username: user.username,
        password: PASSWORD,
      })
      expect(login.status).toBe(200)
      latest.push(browser.jar.get('refresh_token') ?? '')
    }

    // The storm: each session presents its token twice at once (two tabs), again and again, until the bank dies.
    let responses = 0
    let killed: Promise<unknown> | undefined
    const storm = latest.map(async (_, index) => {
      const address = `203.0.113.${index + 1}`
      for (;;) {
        const presented = latest[index] ?? ''
        const answers = await Promise.all([refresh(presented, address), refresh(presented, address)]).catch(() => null)
        if (!answers) return // the bank is gone
        for (const answer of answers) {
          expect(answer.status, `session ${index}`).toBe(200)
          if (answer.refreshToken) latest[index] = answer.refreshToken
        }
        // Both tabs got the same successor: the session did not fork.
        expect(answers[0]?.refreshToken).toBe(answers[1]?.refreshToken)
        responses += 2
        if (responses >= killAfterResponses && !killed) killed = services.bank.stop('SIGKILL')
      }
    })
    await Promise.all(storm)
    await killed
    expect(responses).toBeGreaterThanOrEqual(killAfterResponses)

    const { db } = await openDatabase<BankDatabase>({
      databaseUrl: services.databaseUrlOf('bank'),
      migrations: bankMigrations,
    })
    try {
      const rows = await db
        .selectFrom('loginSessions')
        .select(['generation', 'previousTokenHash', 'rotatedAt', 'refreshTokenHash', 'revokedAt'])
        .where('userId', '=', user.id)
        .execute()
      expect(rows).toHaveLength(sessionCount + 1) // and the registration's own login
      for (const row of rows) {
        expect(row.revokedAt).toBeNull()
        if (row.generation === 0) continue
        expect(row.previousTokenHash).not.toBeNull()
        expect(row.rotatedAt).not.toBeNull()
        expect(row.previousTokenHash?.equals(row.refreshTokenHash)).toBe(false)
      }
    } finally {
      await db.destroy()
    }

    // Restarted (well within the 10 s grace window): every session continues, and then rotates normally.
    await services.startOne('bank')
    for (const [index, token] of latest.entries()) {
      const resumed = await refresh(token, `198.51.100.${index + 1}`)
      expect(resumed.status, `session ${index}`).toBe(200)
      const next = await refresh(resumed.refreshToken ?? '', `198.51.100.${index + 1}`)
      expect(next.status, `session ${index}`).toBe(200)
    }
  })
})
