// `secret:rotate` prints three steps. Each step is a configuration that, during a rolling deployment, runs beside the
// one before it on other replicas. These tests run bank replicas with each printed configuration (read by the bank's
// own config loader) on one database and check what the order promises: replicas of neighbouring steps accept each
// other's tokens, the obvious single step would not, and what step 3 gives up. Retirement verifies with the same
// keyring and token check (shared/src/access-token.ts), so what holds for the bank's token check holds for it.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { injectInto, logIn, register } from '@sso/shared/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type App, buildApp } from '../app.js'
import { loadBankConfig } from '../config.js'
import { alice, createLogoutReceiver } from '../test-app.js'
import { EXIT_FAILURE, EXIT_OK, main } from './admin-cli.js'
import type { KeySettings, RotationPlan } from './secret-rotation.js'

async function runAdmin(argv: string[], env: NodeJS.ProcessEnv) {
  let stdout = ''
  let stderr = ''
  const exitCode = await main(argv, env, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  })
  return { exitCode, stdout, stderr }
}

const CURRENT = 'rotation test: the current key - 48 bytes long..'
const EARLIER = 'rotation test: a key of an earlier rotation #42'
// secret:rotate reads the secret and the lifetimes, never the database: it need not exist.
const OPERATOR_ENV = {
  NODE_ENV: 'production',
  JWT_SECRET: CURRENT,
  JWT_PREVIOUS_SECRETS: EARLIER,
  DATABASE_PATH: '/nonexistent/bank.sqlite',
}

describe('admin secret:rotate', () => {
  it('prints a new secret and the three steps, to stdout only', async () => {
    const { exitCode, stdout, stderr } = await runAdmin(['secret:rotate'], OPERATOR_ENV)
    expect({ exitCode, stderr }).toEqual({ exitCode: EXIT_OK, stderr: '' })
    const newSecret = /^New secret: ([\w-]{64})$/m.exec(stdout)?.[1] ?? ''
    expect(newSecret).not.toBe('')
    // From the line break before step `number` to the one before the next step, inclusive.
    const step = (number: number) => stdout.indexOf(`\n${number}) `)
    expect(step(1)).toBeGreaterThan(0)
    expect(step(2)).toBeGreaterThan(step(1))
    expect(step(3)).toBeGreaterThan(step(2))
    expect(stdout.slice(step(1), step(2) + 1)).toContain(
      `JWT_SECRET=${CURRENT}\n     JWT_PREVIOUS_SECRETS=${newSecret},${EARLIER}\n`,
    )
    expect(stdout.slice(step(2), step(3) + 1)).toContain(
      `JWT_SECRET=${newSecret}\n     JWT_PREVIOUS_SECRETS=${CURRENT},${EARLIER}\n`,
    )
    expect(stdout.slice(step(3))).toMatch(/^\n3\) 604800 s \(7 days, REFRESH_TOKEN_TTL\) after step 2/)
    expect(stdout.slice(step(3))).toContain(`JWT_SECRET=${newSecret}\n     JWT_PREVIOUS_SECRETS=   (unset it)\n`)
    expect(stdout).toContain('EVERY bank and EVERY retirement replica')
  })

  it('gives a new secret each time', async () => {
    const secrets = await Promise.all(
      [1, 2].map(async () => JSON.parse((await runAdmin(['secret:rotate', '--json'], OPERATOR_ENV)).stdout).newSecret),
    )
    expect(secrets[0]).not.toBe(secrets[1])
  })

  it('refuses without a current secret in production, as the bank does (exit 1, one line)', async () => {
    const { JWT_SECRET: _, ...withoutSecret } = OPERATOR_ENV
    const { exitCode, stdout, stderr } = await runAdmin(['secret:rotate'], withoutSecret)
    expect({ exitCode, stdout }).toEqual({ exitCode: EXIT_FAILURE, stdout: '' })
    expect(stderr).toMatch(/^Configuration error: JWT_SECRET: is required in production[^\n]*\n$/)
  })

  it.each([
    ['a comma', 'a current key, with a comma in it: 48 bytes long'],
    ['a leading space', ' a current key with a leading space: 48 bytes..'],
  ])('refuses a current key with %s: JWT_PREVIOUS_SECRETS could not list it (exit 1)', async (_case, secret) => {
    const { exitCode, stdout, stderr } = await runAdmin(['secret:rotate'], { ...OPERATOR_ENV, JWT_SECRET: secret })
    expect({ exitCode, stdout }).toEqual({ exitCode: EXIT_FAILURE, stdout: '' })
    expect(stderr.trimEnd().split('\n')).toHaveLength(1)
    expect(stderr).toMatch(/^admin: JWT_SECRET: cannot be listed in JWT_PREVIOUS_SECRETS/)
    expect(stderr).not.toContain(secret.trim())
  })

  describe('the printed steps, deployed on bank replicas of one database', () => {
    let folder: string
    let plan: RotationPlan
    const replicas = new Map<string, App>()
    const replica = (name: string) => replicas.get(name) as App

    beforeAll(async () => {
      plan = JSON.parse((await runAdmin(['secret:rotate', '--json'], OPERATOR_ENV)).stdout)
      folder = mkdtempSync(join(tmpdir(), 'sso-rotation-'))
      const configurations: Record<string, KeySettings> = {
        before: { JWT_SECRET: CURRENT, JWT_PREVIOUS_SECRETS: EARLIER },
        step1: plan.steps[0].settings,
        step2: plan.steps[1].settings,
        step3: plan.steps[2].settings,
      }
      for (const [name, keys] of Object.entries(configurations)) {
        // The bank's own loader: the printed values are accepted as they are.
        const config = loadBankConfig({
          NODE_ENV: 'test',
          LOG_LEVEL: 'silent',
          DATABASE_PATH: join(folder, 'bank.sqlite'),
          // Off, so that presenting a rotated refresh token again is reuse at once (no parallel-tab window).
          REFRESH_REUSE_GRACE: '0',
          ...keys,
        })
        replicas.set(name, await buildApp(config, { postLogoutToken: createLogoutReceiver().post }))
      }
      await register(injectInto(replica('before')), alice)
    })
    afterAll(async () => {
      await Promise.all([...replicas.values()].map((app) => app.close()))
      rmSync(folder, { recursive: true, force: true })
    })

    const logInAt = (name: string) => logIn(injectInto(replica(name)), alice)
    const statusOfMe = async (name: string, accessToken: string) =>
      (await replica(name).inject({ url: '/api/me', headers: { authorization: `Bearer ${accessToken}` } })).statusCode
    const refreshCookieOf = (response: { cookies: Array<{ name: string; value: string }> }) =>
      response.cookies.find((cookie) => cookie.name === 'refresh_token')?.value ?? ''
    const refreshAt = (name: string, refreshToken: string) =>
      replica(name).inject({ method: 'POST', url: '/api/refresh', cookies: { refresh_token: refreshToken } })

    it('lists the new key before signing with it, and keeps the keys of an earlier rotation until step 3', () => {
      expect(plan.steps.map((step) => step.settings)).toEqual([
        { JWT_SECRET: CURRENT, JWT_PREVIOUS_SECRETS: `${plan.newSecret},${EARLIER}` },
        { JWT_SECRET: plan.newSecret, JWT_PREVIOUS_SECRETS: `${CURRENT},${EARLIER}` },
        { JWT_SECRET: plan.newSecret, JWT_PREVIOUS_SECRETS: '' },
      ])
      expect(plan.steps.map((step) => step.waitSeconds)).toEqual([0, 0, 604_800])
    })

    it.each([
      ['before', 'step1'],
      ['step1', 'step2'],
      ['step2', 'step3'],
    ])('replicas on %s and on %s (side by side during a rollout) accept each other’s access tokens', async (a, b) => {
      for (const [issuer, verifier] of [
        [a, b],
        [b, a],
      ] as const) {
        const { accessToken } = await logInAt(issuer)
        expect(await statusOfMe(verifier, accessToken), `${issuer} → ${verifier}`).toBe(200)
      }
    })

    it('the obvious single step (new key signing, current one previous) is refused by replicas not yet updated', async () => {
      const { accessToken } = await logInAt('step2')
      expect(await statusOfMe('before', accessToken)).toBe(401)
    })

    it('step 3 refuses access tokens of the old key, and the session refreshes into the new key', async () => {
      const { accessToken, refreshToken } = await logInAt('before')
      expect(await statusOfMe('step2', accessToken)).toBe(200)
      expect(await statusOfMe('step3', accessToken)).toBe(401)
      // The refresh token MACed with the old key is still its session's current one: found by its hash.
      const refreshed = await refreshAt('step3', refreshToken ?? '')
      expect(refreshed.statusCode).toBe(200)
      expect(await statusOfMe('step3', JSON.parse(refreshed.body).data)).toBe(200)
    })

    it('why step 3 waits REFRESH_TOKEN_TTL: only while the old key is listed is an old refresh token recognised as reuse', async () => {
      // Until step 3: a token MACed with the old key, presented after its rotation, is theft: the session is revoked.
      const stolenUntilStep3 = await logInAt('before')
      const first = await refreshAt('step2', stolenUntilStep3.refreshToken ?? '')
      const second = await refreshAt('step2', refreshCookieOf(first))
      expect([first.statusCode, second.statusCode]).toEqual([200, 200])
      expect((await refreshAt('step2', stolenUntilStep3.refreshToken ?? '')).statusCode).toBe(401)
      expect(await statusOfMe('step2', JSON.parse(second.body).data)).toBe(401)

      // After step 3 the same replay is a plain 401 that revokes nothing. (The token rotated most recently is
      // recognised by its hash whatever the key, so the replay is of one two rotations back, known only by its MAC.)
      const stolenAfterStep3 = await logInAt('before')
      const once = await refreshAt('step3', stolenAfterStep3.refreshToken ?? '')
      const twice = await refreshAt('step3', refreshCookieOf(once))
      expect([once.statusCode, twice.statusCode]).toEqual([200, 200])
      expect((await refreshAt('step3', stolenAfterStep3.refreshToken ?? '')).statusCode).toBe(401)
      expect(await statusOfMe('step3', JSON.parse(twice.body).data)).toBe(200)
    })
  })
})
