// The admin command as an operator runs it: the built `node services/bank/dist/admin/admin.js`, a real process with the
// bank's own environment, beside a running bank and retirement (real processes, temp SQLite files).
import { join } from 'node:path'
import { registerAndLogIn } from '@sso/shared/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, HttpClient, postingTo } from './support/http-client.js'
import { type EnvOverrides, Services } from './support/start-services.js'

const cliTimeoutMs = 30_000
/** docs/spec.md#single-logout: a revoked session's tokens are refused by both services within this. */
const SINGLE_LOGOUT_BOUND_MS = 5_000

let services: Services
beforeAll(async () => {
  services = await Services.start()
})
afterAll(async () => {
  await services?.stopAll()
})

/** Runs the built command with the bank's environment (plus `overrides`); resolves when it exits. */
function runCli(args: string[], overrides: EnvOverrides = {}) {
  return services.runToExit(
    'bank',
    [join('services', 'bank', 'dist', 'admin', 'admin.js'), ...args],
    overrides,
    cliTimeoutMs,
  )
}

async function statusOfMe(serviceUrl: string, accessToken: string): Promise<number> {
  const response = await fetch(`${serviceUrl}/api/me`, {
    headers: bearer(accessToken),
    signal: AbortSignal.timeout(2_000),
  })
  await response.body?.cancel()
  return response.status
}

describe('the admin command as a process', () => {
  it('exits 0 for help, 2 for a usage error, 3 for an unknown user, 1 without a database', async () => {
    const help = await runCli(['help'])
    expect(help.exitCode).toBe(0)
    expect(help.stdout).toContain('sessions:revoke-all <username>')

    const unknownCommand = await runCli(['users:purge'])
    expect(unknownCommand.exitCode).toBe(2)
    expect(unknownCommand.stderr).toMatch(/^admin: unknown command "users:purge"\n/)

    const missingArgument = await runCli(['sessions:list'])
    expect(missingArgument.exitCode).toBe(2)

    const unknownUser = await runCli(['sessions:list', 'nobody_here'])
    expect(unknownUser).toMatchObject({ exitCode: 3, stdout: '', stderr: 'admin: no user named "nobody_here"\n' })

    const noDatabase = await runCli(['users:list'], { DATABASE_PATH: join(services.dataDir, 'elsewhere.sqlite') })
    expect(noDatabase.exitCode).toBe(1)
    expect(noDatabase.stderr).toMatch(/^admin: DATABASE_PATH: no bank database at /)
  })

  it('sessions:revoke-all: the running bank refuses the tokens at once, and retirement within the logout bound', async () => {
    const user = await registerAndLogIn(postingTo(new HttpClient(), services.bankUrl))
    const other = await registerAndLogIn(postingTo(new HttpClient(), services.bankUrl))
    expect(await statusOfMe(services.retirementUrl, user.accessToken)).toBe(200)

    const listed = await runCli(['users:list', '--json'])
    expect(listed.exitCode).toBe(0)
    expect(JSON.parse(listed.stdout)).toEqual(
      expect.arrayContaining([expect.objectContaining({ username: user.username, liveSessions: 1 })]),
    )

    const revokedAt = Date.now()
    const revoked = await runCli(['sessions:revoke-all', user.username])
    expect({ exitCode: revoked.exitCode, stderr: revoked.stderr }).toEqual({ exitCode: 0, stderr: '' })
    expect(revoked.stdout).toContain(`Revoked 1 session of ${user.username}`)
    expect(await statusOfMe(services.bankUrl, user.accessToken)).toBe(401)

    // The running bank's delivery worker posts the notice the command queued; retirement then refuses the token.
    for (;;) {
      if ((await statusOfMe(services.retirementUrl, user.accessToken)) === 401) break
      if (Date.now() - revokedAt > SINGLE_LOGOUT_BOUND_MS)
        throw new Error(`retirement still accepts the token\n${services.describe()}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(await statusOfMe(services.retirementUrl, other.accessToken)).toBe(200)
    const outbox = await runCli(['outbox:status', '--json'])
    expect(JSON.parse(outbox.stdout)).toEqual({ pending: 0, urls: [] })
  })

  it('secret:rotate: mid-rollout (bank on step 2, retirement still on step 1) retirement accepts the new tokens', async () => {
    const rotate = await runCli(['secret:rotate', '--json'])
    expect({ exitCode: rotate.exitCode, stderr: rotate.stderr }).toEqual({ exitCode: 0, stderr: '' })
    const plan = JSON.parse(rotate.stdout)
    const before = await registerAndLogIn(postingTo(new HttpClient(), services.bankUrl))

    await services.restart('retirement', plan.steps[0].settings)
    await services.restart('bank', plan.steps[1].settings)
    const after = await registerAndLogIn(postingTo(new HttpClient(), services.bankUrl))
    for (const { accessToken } of [before, after]) {
      expect(await statusOfMe(services.retirementUrl, accessToken)).toBe(200)
      expect(await statusOfMe(services.bankUrl, accessToken)).toBe(200)
    }
  })
})
