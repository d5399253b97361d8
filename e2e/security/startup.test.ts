// A service must refuse to start with a key anyone could guess (RFC 8725 §2.2, §3.5: HMAC keys need enough
// entropy). Each case starts the real built server in production and asserts: non-zero exit, one stderr line
// naming the variable, the bad value itself not repeated, and nothing listening.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type EnvOverrides, findFreePorts, Services } from '../support/start-services.js'

let services: Services
beforeAll(async () => {
  services = await Services.start()
})
afterAll(async () => {
  await services?.stopAll()
})

const GOOD_SECRET = 'startup-8Hq2Lm5Nx0Pv7Rb4Tc1Wd9Ye6Zf3Ag5Bh2Cj8Dk'

const refusals: Array<[string, EnvOverrides, string]> = [
  ['a missing JWT_SECRET', { JWT_SECRET: undefined }, 'JWT_SECRET'],
  ['an empty JWT_SECRET', { JWT_SECRET: '' }, 'JWT_SECRET'],
  ['a 31-byte JWT_SECRET', { JWT_SECRET: 'Zq8#Lm2$Nx7&Pv4!Rb1*Tc9@Wd6^Ye3' }, 'JWT_SECRET'],
  ['"secret"', { JWT_SECRET: 'secret' }, 'JWT_SECRET'],
  ['"changeme" repeated to 32 bytes', { JWT_SECRET: 'changemechangemechangemechangeme' }, 'JWT_SECRET'],
  ['"secret" padded with digits', { JWT_SECRET: 'secret1234567890123456789012345678' }, 'JWT_SECRET'],
  ['one character repeated', { JWT_SECRET: 'x'.repeat(48) }, 'JWT_SECRET'],
  ['"your-jwt-secret" repeated', { JWT_SECRET: 'your-secret-your-secret-your-secret-' }, 'JWT_SECRET'],
  ['a short previous key', { JWT_PREVIOUS_SECRETS: 'too-short' }, 'JWT_PREVIOUS_SECRETS'],
  [
    'a placeholder previous key',
    { JWT_PREVIOUS_SECRETS: `${GOOD_SECRET},changemechangemechangemechangeme` },
    'JWT_PREVIOUS_SECRETS',
  ],
  ['JWT_SECRET and JWT_SECRET_FILE together', { JWT_SECRET_FILE: '/dev/null' }, 'JWT_SECRET'],
  [
    'a JWT_SECRET_FILE that does not exist',
    { JWT_SECRET: undefined, JWT_SECRET_FILE: '/nonexistent/jwt-secret' },
    'JWT_SECRET_FILE',
  ],
]

describe.each(['bank', 'retirement'] as const)('%s with a bad database setting', (name) => {
  const password = 'Db-Pa55word-never-printed'

  it.each([
    ['a malformed DATABASE_URL', { DATABASE_URL: `${password}@db.internal/bank`, DATABASE_PATH: undefined }],
    [
      'a DATABASE_URL of another engine',
      { DATABASE_URL: `mysql://bank:${password}@db.internal/bank`, DATABASE_PATH: undefined },
    ],
    [
      'DATABASE_URL together with DATABASE_PATH',
      { DATABASE_URL: `postgres://bank:${password}@127.0.0.1:5432/bank`, DATABASE_PATH: '/tmp/bank.sqlite' },
    ],
  ])('refuses to start with %s: one stderr line naming DATABASE_URL, never its password', async (_case, overrides) => {
    const { exitCode, stdout, stderr } = await services.runExpectingExit(name, overrides)
    expect(exitCode).not.toBe(0)
    expect(exitCode).not.toBeNull()
    expect(stderr.trim().split('\n'), stderr).toHaveLength(1)
    expect(stderr).toMatch(/^Configuration error: DATABASE_URL: /)
    expect(`${stdout}${stderr}`).not.toContain(password)
    expect(stdout).not.toMatch(/Server listening/)
  })

  it('stops at start when DATABASE_URL names a server that does not answer: one line, no password', async () => {
    const [port] = await findFreePorts(1) // nothing listens there
    const { exitCode, stdout, stderr } = await services.runExpectingExit(name, {
      DATABASE_URL: `postgres://${name}:${password}@127.0.0.1:${port}/${name}`,
      DATABASE_PATH: undefined,
    })
    expect(exitCode).not.toBe(0)
    expect(exitCode).not.toBeNull()
    expect(stderr.trim().split('\n'), stderr).toHaveLength(1)
    expect(stderr.trim()).toBe(
      `Cannot start: DATABASE_URL: cannot connect to postgres://${name}:***@127.0.0.1:${port}/${name}: connect ECONNREFUSED 127.0.0.1:${port}`,
    )
    expect(`${stdout}${stderr}`).not.toContain(password)
    expect(stdout).not.toMatch(/Server listening/)
  })
})

describe.each(['bank', 'retirement'] as const)('%s in production', (name) => {
  it.each(refusals)('refuses to start with %s, naming the variable', async (_case, overrides, variable) => {
    const { exitCode, stdout, stderr } = await services.runExpectingExit(name, overrides)
    expect(exitCode).not.toBe(0)
    expect(exitCode).not.toBeNull() // it exited by itself, it was not killed after hanging
    const lines = stderr.trim().split('\n')
    expect(lines, stderr).toHaveLength(1)
    expect(lines[0]).toContain(variable)
    expect(stdout).not.toMatch(/Server listening/)
    // The message names the variable; it never repeats the value (a near-miss secret is still a secret).
    for (const value of Object.values(overrides)) {
      if (value && value.length >= 8 && !value.startsWith('/')) {
        expect(stderr).not.toContain(value)
        expect(stdout).not.toContain(value)
      }
    }
  })

  it('refuses a secret file holding a placeholder, naming JWT_SECRET_FILE', async () => {
    const file = join(services.dataDir, `${name}-placeholder-secret`)
    writeFileSync(file, 'changemechangemechangemechangeme\n', { mode: 0o600 })
    const { exitCode, stderr } = await services.runExpectingExit(name, { JWT_SECRET: undefined, JWT_SECRET_FILE: file })
    expect(exitCode).not.toBe(0)
    expect(stderr.trim().split('\n')).toHaveLength(1)
    expect(stderr).toContain('JWT_SECRET_FILE')
    expect(stderr).not.toContain('changeme')
  })

  it('starts with a good secret (the control): the same harness, only the secret differs', async () => {
    // A short run: healthy means it would have served; it is stopped by the bounded wait.
    const { stdout, stderr } = await services.runExpectingExit(name, { JWT_SECRET: GOOD_SECRET }, 2_000)
    expect(stderr).not.toMatch(/JWT_SECRET/)
    expect(stdout).toMatch(/Server listening/)
    expect(stdout).not.toContain(GOOD_SECRET)
  })
})
