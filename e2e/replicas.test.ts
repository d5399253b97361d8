// CONTRACT "Scale-out", across real processes: two banks and two retirements on PostgreSQL (a database per service,
// every replica of a service sharing it), requests alternating between replicas as a load balancer would, and each
// rule holding as if there were one replica. See docs/scaling.md.
import { openDatabase } from '@sso/shared/db'
import { decodeToken, TEST_PASSWORD, uniqueUsername } from '@sso/shared/testing'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { BankDatabase } from '../services/bank/src/db/bank-database.js'
import { bankMigrations } from '../services/bank/src/db/migrations/index.js'
import { LOGINS_PER_ADDRESS } from '../services/bank/src/identity/address-limits.js'
import { retirementMigrations } from '../services/retirement/src/db/migrations/index.js'
import type { RetirementDatabase } from '../services/retirement/src/db/retirement-database.js'
import { bearer, HttpClient, readJson } from './support/http-client.js'
import { type Replica, ReplicaSet, replicaLetter } from './support/replicas.js'

/** docs/spec.md#single-logout: a revoked session's tokens are refused everywhere within this. */
const SINGLE_LOGOUT_BOUND_MS = 5_000
const POLL_INTERVAL_MS = 50
const postgresUnavailable = inject('postgresUnavailable')

/** A client of its own, from its own (forwarded) address, so per-address budgets are not what a test meets. */
function newClient() {
  return { client: new HttpClient(), address: `198.51.100.${1 + Math.floor(Math.random() * 250)}` }
}

async function register(replica: Replica, username: string, address: string) {
  const response = await new HttpClient().sendJson(
    'POST',
    `${replica.url}/api/register`,
    { username, password: TEST_PASSWORD },
    { 'x-forwarded-for': address },
  )
  await response.body?.cancel()
  return response.status
}

/** Logs in at one replica; the new session's tokens, or the status if refused. */
async function logIn(replica: Replica, username: string, address: string) {
  const client = new HttpClient()
  const response = await client.sendJson(
    'POST',
    `${replica.url}/api/login`,
    { username, password: TEST_PASSWORD },
    { 'x-forwarded-for': address },
  )
  const body = await readJson(response)
  return {
    status: response.status,
    accessToken: body.data as string,
    refreshToken: client.jar.get('refresh_token') ?? '',
  }
}

/** POST /api/refresh at one replica as a browser holding only this refresh token. */
async function refresh(replica: Replica, refreshToken: string, address: string) {
  const client = new HttpClient()
  client.jar.set('refresh_token', refreshToken)
  const response = await client.request(`${replica.url}/api/refresh`, {
    method: 'POST',
    headers: { 'x-forwarded-for': address },
  })
  const body = await readJson(response)
  return {
    status: response.status,
    accessToken: response.status === 200 ? (body.data as string) : undefined,
    refreshToken: response.status === 200 ? client.jar.get('refresh_token') : undefined,
  }
}

async function statusOfMe(replica: Replica, accessToken: string) {
  const response = await fetch(`${replica.url}/api/me`, {
    headers: bearer(accessToken),
    signal: AbortSignal.timeout(2_000),
  })
  await response.body?.cancel()
  return response.status
}

/** Polls until `replica` refuses the token (401); the delay in ms, or undefined if it still accepts it at the bound. */
async function msUntilRefused(replica: Replica, accessToken: string, since: number) {
  for (;;) {
    if ((await statusOfMe(replica, accessToken)) === 401) return Date.now() - since
    if (Date.now() - since > SINGLE_LOGOUT_BOUND_MS) return undefined
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS))
  }
}

/** POST /api/login at one replica with a password that may be wrong: the status and the address budget left. */
async function attemptLogin(replica: Replica, username: string, password: string, address: string) {
  const response = await new HttpClient().sendJson(
    'POST',
    `${replica.url}/api/login`,
    { username, password },
    { 'x-forwarded-for': address },
  )
  await response.body?.cancel()
  return { status: response.status, addressBudgetLeft: response.headers.get('x-ratelimit-remaining') }
}

describe.skipIf(postgresUnavailable !== '')('two banks and two retirements on PostgreSQL', () => {
  const reuseGraceSeconds = 2
  let set: ReplicaSet
  let bankA: Replica
  let bankB: Replica
  beforeAll(async () => {
    set = await ReplicaSet.start({
      env: { REFRESH_REUSE_GRACE: String(reuseGraceSeconds) },
      bankEnv: { TRUST_PROXY: '127.0.0.1' },
    })
    ;[bankA, bankB] = set.banks as [Replica, Replica]
  })
  afterAll(async () => {
    await set?.stopAll()
  })

  it('a user registered on bank A logs in on bank B, and the token works at every replica', async () => {
    const { address } = newClient()
    const username = uniqueUsername('replica')
    expect(await register(bankA, username, address), set.describe()).toBe(201)
    const login = await logIn(bankB, username, address)
    expect(login.status, set.describe()).toBe(200)
    for (const replica of [...set.banks, ...set.retirements]) {
      expect(await statusOfMe(replica, login.accessToken), set.label(replica)).toBe(200)
    }
  })

  it('twenty parallel refreshes of one token, split over A and B, get one successor; the session stays one', async () => {
    const { address } = newClient()
    const username = uniqueUsername('replica')
    expect(await register(bankA, username, address)).toBe(201)
    const login = await logIn(bankA, username, address)
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) => refresh(index % 2 === 0 ? bankA : bankB, login.refreshToken, address)),
    )
    expect(results.map((result) => result.status)).toEqual(Array(20).fill(200))
    const successors = new Set(results.map((result) => result.refreshToken))
    expect(successors.size).toBe(1)
    const sid = decodeToken(login.accessToken).claims.sid
    for (const result of results) expect(decodeToken(result.accessToken ?? '').claims.sid).toBe(sid)

    // One session, alive on both: the successor rotates on either replica, and its tokens are accepted everywhere.
    const sessions = await fetch(`${bankB.url}/api/sessions`, { headers: bearer(results[0]?.accessToken ?? '') })
    expect(((await readJson(sessions)).data as Array<{ id: string }>).map((session) => session.id)).toEqual([sid])
    const next = await refresh(bankB, [...successors][0] ?? '', address)
    expect(next.status).toBe(200)
    for (const replica of [...set.banks, ...set.retirements]) {
      expect(await statusOfMe(replica, next.accessToken ?? ''), set.label(replica)).toBe(200)
    }
  })

  it('ten wrong passwords spread over A and B: 429 on both, even for the right password; another user unaffected; the per-address budget shared', async () => {
    const address = '203.0.113.77' // this test's alone: it spends the whole per-address login budget
    const [target, bystander] = [uniqueUsername('guessed'), uniqueUsername('bystander')]
    for (const username of [target, bystander]) expect(await register(bankA, username, newClient().address)).toBe(201)
    let spent = 0 // login attempts from `address`, on either bank
    const attempt = (replica: Replica, username: string, password: string) => {
      spent++
      return attemptLogin(replica, username, password, address)
    }

    const wrong = await Promise.all(
      Array.from({ length: 10 }, (_, index) => attempt(index % 2 === 0 ? bankA : bankB, target, 'wrong-password-42')),
    )
    expect(
      wrong.map((result) => result.status),
      set.describe(),
    ).toEqual(Array(10).fill(401))
    for (const bank of set.banks) {
      expect((await attempt(bank, target, TEST_PASSWORD)).status, set.label(bank)).toBe(429)
    }
    // The lock is the username's: another user signs in from the same address, on either bank.
    for (const bank of set.banks) {
      expect((await attempt(bank, bystander, TEST_PASSWORD)).status, set.label(bank)).toBe(200)
    }

    // The per-address budget counts the attempts made on both banks together: spend the rest of it alternating
    // (the locked username's attempts are cheap, refused before any password check); each answer tells what is left
    // of the one budget. Kept per process, each bank would still have about half of its own.
    const { max } = LOGINS_PER_ADDRESS
    if (typeof max !== 'number') throw new Error('LOGINS_PER_ADDRESS.max is expected to be a number')
    while (spent < max) {
      const bank = spent % 2 === 0 ? bankA : bankB
      const { status, addressBudgetLeft } = await attempt(bank, target, TEST_PASSWORD)
      expect(status, set.label(bank)).toBe(429)
      expect(addressBudgetLeft, `attempt ${spent} on ${set.label(bank)}`).toBe(String(max - spent))
    }
    // Spent: both banks refuse that address, even the bystander's right password; from another address, not.
    for (const bank of set.banks) {
      expect((await attempt(bank, bystander, TEST_PASSWORD)).status, set.label(bank)).toBe(429)
    }
    expect((await logIn(bankB, bystander, newClient().address)).status).toBe(200)
  })

  it('logout on A: both retirements refuse within 5 s', async () => {
    const { address } = newClient()
    const username = uniqueUsername('replica')
    expect(await register(bankB, username, address)).toBe(201)
    const login = await logIn(bankB, username, address)
    for (const retirement of set.retirements) {
      expect(await statusOfMe(retirement, login.accessToken), set.label(retirement)).toBe(200)
    }
    const loggingOutAt = Date.now()
    const logout = await new HttpClient().sendJson('POST', `${bankA.url}/api/logout`, undefined, {
      ...bearer(login.accessToken),
      'x-forwarded-for': address,
    })
    expect(logout.status, set.describe()).toBe(204)
    // The bank delivers the notice to one retirement (through the balancer); the other hears of it via PostgreSQL.
    const delays = await Promise.all(
      set.retirements.map((replica) => msUntilRefused(replica, login.accessToken, loggingOutAt)),
    )
    const worst = Math.max(...delays.map((ms) => ms ?? Number.POSITIVE_INFINITY))
    console.info(
      `logout on bank A → refused by retirement ${delays.map((ms, i) => `${replicaLetter(i)} ${ms} ms`).join(', ')}; worst ${worst} ms`,
    )
    for (const [index, delay] of delays.entries()) {
      expect(delay, `retirement ${replicaLetter(index)} still accepts the token\n${set.describe()}`).toBeDefined()
    }
  })

  describe('a token rotated on A and presented again on B after the grace window', () => {
    let accessToken = ''
    let revokedAt = 0

    beforeAll(async () => {
      const { address } = newClient()
      const username = uniqueUsername('replica')
      expect(await register(bankA, username, address)).toBe(201)
      const login = await logIn(bankA, username, address)
      const rotated = await refresh(bankA, login.refreshToken, address)
      expect(rotated.status).toBe(200)
      accessToken = rotated.accessToken ?? ''
      await new Promise((resolve) => setTimeout(resolve, (reuseGraceSeconds + 0.5) * 1000))
      revokedAt = Date.now()
      expect((await refresh(bankB, login.refreshToken, address)).status).toBe(401)
      // Reuse detection revoked the whole session: the successor is refused too, on either bank.
      expect((await refresh(bankA, rotated.refreshToken ?? '', address)).status).toBe(401)
    })

    it('is refused at both banks at once, access tokens included', async () => {
      for (const bank of set.banks) expect(await statusOfMe(bank, accessToken), set.label(bank)).toBe(401)
    })

    it('is refused at both retirements within 5 s', async () => {
      // The notice lands on the one retirement the balancer picked; its sibling hears of it through the database.
      const delays = await Promise.all(
        set.retirements.map((replica) => msUntilRefused(replica, accessToken, revokedAt)),
      )
      console.info(
        `reuse on B → refused by retirement ${delays.map((ms, i) => `${replicaLetter(i)} ${ms} ms`).join(', ')}`,
      )
      for (const [index, delay] of delays.entries()) {
        expect(delay, `retirement ${replicaLetter(index)} still accepts the token`).toBeDefined()
      }
    })
  })
})

describe.skipIf(postgresUnavailable !== '')(
  'three replicas of each service starting on empty databases at once',
  () => {
    let set: ReplicaSet
    beforeAll(async () => {
      // ReplicaSet.start launches every replica together, on two databases just created: all six race to migrate.
      set = await ReplicaSet.start({ banks: 3, retirements: 3, bankEnv: { TRUST_PROXY: '127.0.0.1' } })
    })
    afterAll(async () => {
      await set?.stopAll()
    })

    it('all start, each migration is applied once, and the service works across them', async () => {
      for (const [name, migrations] of [
        ['bank', bankMigrations],
        ['retirement', retirementMigrations],
      ] as const) {
        const { db } = await openDatabase<BankDatabase>({ databaseUrl: set.databaseUrlOf(name), migrations })
        try {
          const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db)
          expect(
            rows.map((row) => row.name),
            name,
          ).toEqual(Object.keys(migrations).sort())
        } finally {
          await db.destroy()
        }
      }
      const { address } = newClient()
      const username = uniqueUsername('migrated')
      const [bankA, , bankC] = set.banks as [Replica, Replica, Replica]
      expect(await register(bankC, username, address)).toBe(201)
      const login = await logIn(bankA, username, address)
      expect(login.status).toBe(200)
      for (const retirement of set.retirements) {
        expect(await statusOfMe(retirement, login.accessToken), set.label(retirement)).toBe(200)
      }
    })
  },
)

describe.skipIf(postgresUnavailable !== '')(
  'bank A killed with SIGKILL during a registration and rotation storm',
  () => {
    const workers = 6
    const killAfterUsers = 12
    const stopAfterUsers = 24
    const stormDeadlineMs = 45_000
    let set: ReplicaSet
    beforeAll(async () => {
      set = await ReplicaSet.start({ bankEnv: { TRUST_PROXY: '127.0.0.1' } })
    })
    afterAll(async () => {
      await set?.stopAll()
    })

    it('loses nothing acknowledged, forks no session, and every revocation has its notice', async () => {
      const [bankA, bankB] = set.banks as [Replica, Replica]
      const acknowledgedUsers: string[] = []
      const loggedOut: string[] = [] // session ids whose logout was answered 204
      /** Sessions whose every request was answered: the newest token their client holds must be current. */
      const settled = new Map<string, { refreshToken: string; address: string }>()
      let killed: Promise<unknown> | undefined
      const started = Date.now()

      // Each worker, until enough users were acknowledged: sign up, log in, refresh a few times, and log out every
      // third session; each request goes to the next live bank, as a round-robin balancer sends it.
      const storm = Array.from({ length: workers }, async (_, worker) => {
        for (
          let round = 0;
          acknowledgedUsers.length < stopAfterUsers && Date.now() - started < stormDeadlineMs;
          round++
        ) {
          const address = `203.0.113.${worker * 40 + (round % 40) + 1}`
          const username = uniqueUsername(`storm${worker}`)
          const registered = await register(set.nextBank(), username, address).catch(() => 0)
          if (registered !== 201) continue
          acknowledgedUsers.push(username)
          if (acknowledgedUsers.length >= killAfterUsers && !killed) killed = set.stopReplica(bankA, 'SIGKILL')

          const login = await logIn(set.nextBank(), username, address).catch(() => undefined)
          if (login?.status !== 200) continue
          const sid = decodeToken(login.accessToken).claims.sid as string
          let token = login.refreshToken
          let answered = true
          for (let step = 0; step < 3 && answered; step++) {
            const rotated = await refresh(set.nextBank(), token, address).catch(() => undefined)
            if (rotated?.status === 200 && rotated.refreshToken) token = rotated.refreshToken
            else answered = false
          }
          if (!answered) continue
          if (round % 3 === 2) {
            const client = new HttpClient()
            client.jar.set('refresh_token', token)
            const logout = await client
              .request(`${set.nextBank().url}/api/logout`, { method: 'POST', headers: { 'x-forwarded-for': address } })
              .catch(() => undefined)
            if (logout?.status === 204) loggedOut.push(sid)
          } else settled.set(sid, { refreshToken: token, address })
        }
      })
      await Promise.all(storm)
      await killed
      expect(killed, 'the storm ended before bank A was killed').toBeDefined()
      expect(bankA.process?.isRunning).toBe(false)
      expect(acknowledgedUsers.length).toBeGreaterThanOrEqual(killAfterUsers)
      console.info(
        `storm: ${acknowledgedUsers.length} users acknowledged, ${settled.size} settled sessions, ${loggedOut.length} logouts`,
      )

      // Every acknowledged user logs in through B.
      for (const username of acknowledgedUsers) {
        const login = await logIn(bankB, username, '192.0.2.10')
        expect(login.status, `${username}\n${set.describe()}`).toBe(200)
      }

      // Every session whose requests were all answered continues on B from the newest token its client holds.
      for (const [sid, { refreshToken, address }] of settled) {
        expect((await refresh(bankB, refreshToken, address)).status, `session ${sid}`).toBe(200)
      }

      const bank = await openDatabase<BankDatabase>({
        databaseUrl: set.databaseUrlOf('bank'),
        migrations: bankMigrations,
      })
      const retirement = await openDatabase<RetirementDatabase>({
        databaseUrl: set.databaseUrlOf('retirement'),
        migrations: retirementMigrations,
      })
      try {
        // One live refresh token per session: a row holds one current hash; a rotated row names its predecessor.
        const sessions = await bank.db
          .selectFrom('loginSessions')
          .select(['id', 'generation', 'previousTokenHash', 'rotatedAt', 'refreshTokenHash', 'revokedAt'])
          .execute()
        expect(sessions.length).toBeGreaterThan(0)
        for (const row of sessions) {
          if (row.generation === 0) continue
          expect(row.previousTokenHash, row.id).not.toBeNull()
          expect(row.rotatedAt, row.id).not.toBeNull()
          expect(row.previousTokenHash?.equals(row.refreshTokenHash), row.id).toBe(false)
        }
        const revoked = new Set(sessions.filter((row) => row.revokedAt !== null).map((row) => row.id))
        expect(revoked.size, 'the storm revoked no session').toBeGreaterThan(0)
        for (const sid of loggedOut) expect(revoked.has(sid), `logged-out session ${sid} is not revoked`).toBe(true)

        // No revocation without its notice: each is still in the outbox, or retirement has recorded it.
        const pending = await bank.db.selectFrom('logoutOutbox').select('sessionId').execute()
        const recorded = await retirement.db.selectFrom('revokedSessions').select('sessionId').execute()
        const noticed = new Set([...pending, ...recorded].map((row) => row.sessionId))
        for (const sid of revoked) expect(noticed.has(sid), `revoked session ${sid} has no notice`).toBe(true)
      } finally {
        await bank.db.destroy()
        await retirement.db.destroy()
      }
    })
  },
)
