// The admin command in-process, `main(argv, env, io)`, against a bank database on both engines, beside a running bank
// app on the same database (what an operator's command meets in production: a live service next to it).
import { BACKCHANNEL_LOGOUT_EVENT, createKeyring, verifyLogoutToken } from '@sso/shared'
import { decodeToken, injectInto, logIn, register } from '@sso/shared/testing'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { findFreePort } from '../../../../e2e/support/start-services.js'
import { describeEachEngine, type TestDatabaseSettings } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import { bankMigrations } from '../db/migrations/index.js'
import { alice, bob, buildTestApp, createLogoutReceiver, databaseConfig, TEST_JWT_SECRET } from '../test-app.js'
import { EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, main } from './admin-cli.js'

/** Runs the command as `admin.ts` would, with stdout and stderr captured. */
async function runAdmin(argv: string[], env: NodeJS.ProcessEnv) {
  let stdout = ''
  let stderr = ''
  const exitCode = await main(argv, env, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  })
  return { exitCode, stdout, stderr }
}

/**
 * The environment of a bank in production on that database, with no JWT_SECRET: the database commands must not
 * need one. BACKCHANNEL_LOGOUT_URLS is left to its default, retirement's endpoint, as in the test app.
 */
function bankEnvironment(database: TestDatabaseSettings): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'production',
    ...(database.databaseUrl !== undefined
      ? { DATABASE_URL: database.databaseUrl }
      : { DATABASE_PATH: database.databasePath }),
  }
}

const RETIREMENT_URL = 'http://localhost:3001/backchannel/logout'

describeEachEngine('admin command', (engine) => {
  let bank: App
  let receiver: ReturnType<typeof createLogoutReceiver>
  let env: NodeJS.ProcessEnv
  let aliceId: string
  let bobId: string
  beforeEach(async () => {
    const database = await engine.createDatabase(bankMigrations)
    receiver = createLogoutReceiver()
    bank = await buildTestApp(databaseConfig(database), { postLogoutToken: receiver.post })
    env = bankEnvironment(database)
    aliceId = await register(injectInto(bank), alice)
    bobId = await register(injectInto(bank), bob)
  })
  afterEach(async () => {
    await bank.close()
  })

  const me = (accessToken: string) =>
    bank.inject({ url: '/api/me', headers: { authorization: `Bearer ${accessToken}` } })
  const logInAs = (credentials: typeof alice, userAgent = 'test-agent/1.0') =>
    logIn(injectInto(bank), credentials, { headers: { 'user-agent': userAgent } })

  describe('users:list', () => {
    it('lists every user by name with their live sessions; never a password hash', async () => {
      await logInAs(alice)
      await logInAs(alice)
      const ended = await logInAs(alice)
      await bank.inject({ method: 'POST', url: '/api/logout', cookies: ended.cookies })

      const table = await runAdmin(['users:list'], env)
      expect(table).toMatchObject({ exitCode: EXIT_OK, stderr: '' })
      const lines = table.stdout.trimEnd().split('\n')
      expect(lines[0]).toMatch(/^USERNAME +ID +CREATED +LIVE SESSIONS$/)
      expect(lines[1]).toMatch(new RegExp(`^alice +${aliceId} +\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ +2$`))
      expect(lines[2]).toMatch(new RegExp(`^bob +${bobId} +\\S+ +0$`))
      expect(lines).toHaveLength(3)

      const json = await runAdmin(['users:list', '--json'], env)
      expect(json.exitCode).toBe(EXIT_OK)
      const users = JSON.parse(json.stdout) as Array<Record<string, unknown>>
      expect(users).toEqual([
        { id: aliceId, username: 'alice', createdAt: expect.any(String), liveSessions: 2 },
        { id: bobId, username: 'bob', createdAt: expect.any(String), liveSessions: 0 },
      ])
      expect(Date.parse(users[0]?.createdAt as string)).toBeGreaterThan(Date.now() - 60_000)
      expect(`${table.stdout}${json.stdout}`).not.toMatch(/argon2/)
    })
  })

  describe('sessions:list', () => {
    it("lists the user's live sessions, most recently used first; the name is matched as at login", async () => {
      const first = await logInAs(alice, 'Firefox/140')
      const second = await logInAs(alice, 'Chromium/141')
      await logInAs(bob)

      const { exitCode, stdout, stderr } = await runAdmin(['sessions:list', 'ALICE', '--json'], env)
      expect({ exitCode, stderr }).toEqual({ exitCode: EXIT_OK, stderr: '' })
      expect(JSON.parse(stdout)).toEqual({
        username: 'alice',
        sessions: [
          expect.objectContaining({ id: decodeToken(second.accessToken).claims.sid, userAgent: 'Chromium/141' }),
          expect.objectContaining({ id: decodeToken(first.accessToken).claims.sid, userAgent: 'Firefox/140' }),
        ],
      })

      const table = await runAdmin(['sessions:list', 'alice'], env)
      expect(table.stdout).toMatch(/^SESSION ID +CREATED +LAST USED +USER AGENT\n/)
      expect(table.stdout).toContain(decodeToken(first.accessToken).claims.sid as string)
      expect(table.stdout.trimEnd().split('\n')).toHaveLength(3)
    })

    it("shows a User-Agent's control and bidi characters escaped, never raw to the operator's terminal", async () => {
      // What a client may send: a screen clear, a title change, a right-to-left override, an 8-bit CSI.
      const userAgent = 'x\u001b[2J\u001b]0;t\u0007 \u202etxt\u009b1m'
      await logInAs(alice, userAgent)
      const table = await runAdmin(['sessions:list', 'alice'], env)
      expect(table.exitCode).toBe(EXIT_OK)
      expect(table.stdout).toContain('x\\u{1b}[2J\\u{1b}]0;t\\u{7} \\u{202e}txt\\u{9b}1m\n')
      const json = await runAdmin(['sessions:list', 'alice', '--json'], env)
      for (const output of [table.stdout, json.stdout]) {
        expect(output.replaceAll('\n', '')).not.toMatch(/[\p{Cc}\p{Cf}]/u)
      }
      // Escaped, not lost: a script reads back exactly what the client sent.
      expect(JSON.parse(json.stdout).sessions[0].userAgent).toBe(userAgent)
    })

    it('says so for a user without live sessions, and exits 3 for an unknown user', async () => {
      expect(await runAdmin(['sessions:list', 'bob'], env)).toEqual({
        exitCode: EXIT_OK,
        stdout: 'bob has no live session.\n',
        stderr: '',
      })
      expect(await runAdmin(['sessions:list', 'mallory'], env)).toEqual({
        exitCode: EXIT_NOT_FOUND,
        stdout: '',
        stderr: 'admin: no user named "mallory"\n',
      })
    })
  })

  describe('sessions:revoke-all', () => {
    it('ends every session of the user with its logout notices: the running bank refuses the tokens and delivers the notices', async () => {
      const tokens = [await logInAs(alice), await logInAs(alice)]
      const bobs = await logInAs(bob)
      const sids = tokens.map(({ accessToken }) => decodeToken(accessToken).claims.sid)
      // The bank's delivery worker must not take the notices before we have counted them in the outbox.
      receiver.status = 503

      const { exitCode, stdout, stderr } = await runAdmin(['sessions:revoke-all', 'alice'], env)
      expect({ exitCode, stderr }).toEqual({ exitCode: EXIT_OK, stderr: '' })
      expect(stdout).toContain('Revoked 2 sessions of alice')
      expect(stdout).toContain(`Queued 2 logout notices for ${RETIREMENT_URL}`)

      // Committed with the revocation: one notice per session and URL, whatever the worker has done with them so far.
      const status = await runAdmin(['outbox:status', '--json'], env)
      expect(JSON.parse(status.stdout)).toMatchObject({ pending: 2, urls: [{ url: RETIREMENT_URL, pending: 2 }] })
      for (const { accessToken } of tokens) expect((await me(accessToken)).statusCode).toBe(401)
      expect((await me(bobs.accessToken)).statusCode).toBe(200)
      expect(JSON.parse((await runAdmin(['sessions:list', 'alice', '--json'], env)).stdout).sessions).toEqual([])

      // The bank posts them as for "log out everywhere": one logout token per session, verifiable by retirement.
      receiver.status = 200
      await vi.waitFor(
        async () => expect(JSON.parse((await runAdmin(['outbox:status', '--json'], env)).stdout).pending).toBe(0),
        { timeout: 15_000, interval: 200 },
      )
      const delivered = receiver.received.filter(
        (notice, index, all) => all.findIndex((other) => other.logoutToken === notice.logoutToken) === index,
      )
      const notices = delivered.map(({ url, logoutToken }) => ({
        url,
        notice: verifyLogoutToken(bank.jwt, createKeyring(TEST_JWT_SECRET), 'retirement', logoutToken),
        events: decodeToken(logoutToken).claims.events,
      }))
      expect(new Set(notices.map(({ notice }) => notice.sessionId))).toEqual(new Set(sids))
      for (const { url, notice, events } of notices) {
        expect(url).toBe(RETIREMENT_URL)
        expect(notice.userId).toBe(aliceId)
        expect(events).toEqual({ [BACKCHANNEL_LOGOUT_EVENT]: {} })
      }
    })

    it('revokes nothing the second time, and exits 3 for an unknown user', async () => {
      await logInAs(alice)
      const json = await runAdmin(['sessions:revoke-all', 'alice', '--json'], env)
      expect(JSON.parse(json.stdout)).toEqual({
        username: 'alice',
        revokedSessions: 1,
        logoutNotices: 1,
        urls: [RETIREMENT_URL],
      })
      expect(await runAdmin(['sessions:revoke-all', 'alice'], env)).toEqual({
        exitCode: EXIT_OK,
        stdout: 'alice had no live session: nothing to revoke.\n',
        stderr: '',
      })
      expect(await runAdmin(['sessions:revoke-all', 'mallory'], env)).toMatchObject({
        exitCode: EXIT_NOT_FOUND,
        stderr: 'admin: no user named "mallory"\n',
      })
    })

    it('queues a notice for every URL of BACKCHANNEL_LOGOUT_URLS, as the bank it runs beside', async () => {
      receiver.status = 503
      await logInAs(alice)
      const urls = [RETIREMENT_URL, 'http://relying.example/backchannel/logout']
      const { stdout } = await runAdmin(['sessions:revoke-all', 'alice', '--json'], {
        ...env,
        BACKCHANNEL_LOGOUT_URLS: urls.join(','),
      })
      expect(JSON.parse(stdout)).toMatchObject({ revokedSessions: 1, logoutNotices: 2, urls })
      const status = JSON.parse((await runAdmin(['outbox:status', '--json'], env)).stdout)
      expect(status.urls.map((entry: { url: string }) => entry.url).sort()).toEqual([...urls].sort())
    })
  })

  describe('outbox:status', () => {
    it('says when the outbox is empty, and counts notices per URL while a receiver refuses them', async () => {
      expect(await runAdmin(['outbox:status'], env)).toEqual({
        exitCode: EXIT_OK,
        stdout: 'The logout outbox is empty: every notice was delivered or given up.\n',
        stderr: '',
      })

      receiver.status = 503
      await logInAs(alice)
      await logInAs(alice)
      await runAdmin(['sessions:revoke-all', 'alice'], env)
      // The running bank tries each notice, is refused, and schedules a retry.
      await vi.waitFor(() => expect(receiver.received.length).toBeGreaterThanOrEqual(2), { timeout: 10_000 })
      await vi.waitFor(
        async () => {
          const [entry] = JSON.parse((await runAdmin(['outbox:status', '--json'], env)).stdout).urls
          expect(entry).toMatchObject({ url: RETIREMENT_URL, pending: 2, retrying: 2 })
          expect(entry.maxAttempts).toBeGreaterThanOrEqual(1)
          expect(Date.parse(entry.oldestCreatedAt)).toBeGreaterThan(Date.now() - 60_000)
        },
        { timeout: 10_000, interval: 200 },
      )

      const table = await runAdmin(['outbox:status'], env)
      expect(table.exitCode).toBe(EXIT_OK)
      expect(table.stdout).toMatch(/^URL +PENDING +BEING DELIVERED +RETRYING +MAX ATTEMPTS +OLDEST\n/)
      expect(table.stdout).toMatch(new RegExp(`\\n${RETIREMENT_URL} +2 +[0-2] +[0-2] +\\d+ +\\S+Z\\n$`))
    })
  })
})

describe('admin command: usage and failures', () => {
  const usageError = (stderr: string, problem: string) => {
    expect(stderr.split('\n')[0]).toBe(`admin: ${problem}`)
    expect(stderr).toContain('usage: npm run admin -- <command>')
  }

  it('prints its usage for help, -h and --help, exit 0', async () => {
    for (const argv of [['help'], ['--help'], ['-h'], ['users:list', '--help']]) {
      const { exitCode, stdout, stderr } = await runAdmin(argv, {})
      expect({ exitCode, stderr }).toEqual({ exitCode: EXIT_OK, stderr: '' })
      for (const command of ['users:list', 'sessions:list', 'sessions:revoke-all', 'outbox:status', 'secret:rotate']) {
        expect(stdout).toContain(command)
      }
    }
  })

  it.each([
    [[], 'no command given'],
    [['users:delete'], 'unknown command "users:delete"'],
    [['sessions:list'], 'sessions:list needs <username>'],
    [['sessions:revoke-all'], 'sessions:revoke-all needs <username>'],
    [['sessions:list', 'alice', 'bob'], 'sessions:list takes only <username>'],
    [['users:list', 'alice'], 'users:list takes no arguments'],
    [['users:list', '--yaml'], 'unknown option "--yaml"'],
  ])('exits 2 with the usage for %j', async (argv, problem) => {
    const { exitCode, stdout, stderr } = await runAdmin(argv, {})
    expect(exitCode).toBe(EXIT_USAGE)
    expect(stdout).toBe('')
    usageError(stderr, problem)
  })

  it('exits 1 naming DATABASE_URL when PostgreSQL does not answer, never its password', async () => {
    const port = await findFreePort() // nothing listens there
    const password = 'Adm1n-Db-Pa55word'
    const { exitCode, stdout, stderr } = await runAdmin(['users:list'], {
      NODE_ENV: 'production',
      DATABASE_URL: `postgres://bank:${password}@127.0.0.1:${port}/bank`,
    })
    expect(exitCode).toBe(EXIT_FAILURE)
    expect(stdout).toBe('')
    expect(stderr).toBe(
      `admin: DATABASE_URL: cannot connect to postgres://bank:***@127.0.0.1:${port}/bank: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    )
  })

  it.each([
    [
      'a malformed DATABASE_URL',
      { DATABASE_URL: 'bank:Adm1n-Db-Pa55word@db.internal/bank' },
      /^Configuration error: DATABASE_URL: /,
    ],
    [
      'DATABASE_URL beside DATABASE_PATH',
      { DATABASE_URL: 'postgres://bank:Adm1n-Db-Pa55word@db/bank', DATABASE_PATH: '/tmp/bank.sqlite' },
      /^Configuration error: DATABASE_URL: cannot be set together with DATABASE_PATH/,
    ],
    [
      'a SQLite file that is not there',
      { DATABASE_PATH: '/nonexistent/bank.sqlite' },
      /^admin: DATABASE_PATH: no bank database at \/nonexistent\/bank.sqlite /,
    ],
    [
      'DATABASE_PATH=:memory:',
      { DATABASE_PATH: ':memory:' },
      /^admin: DATABASE_PATH: ':memory:' lives inside the bank's process/,
    ],
  ])('exits 1 with one line for %s', async (_case, settings, message) => {
    for (const command of [['users:list'], ['sessions:revoke-all', 'alice'], ['outbox:status']]) {
      const { exitCode, stdout, stderr } = await runAdmin(command, { NODE_ENV: 'production', ...settings })
      expect(exitCode).toBe(EXIT_FAILURE)
      expect(stdout).toBe('')
      expect(stderr.trimEnd().split('\n')).toHaveLength(1)
      expect(stderr).toMatch(message)
      expect(stderr).not.toContain('Pa55word')
    }
  })
})
