import { mkdtempSync, writeFileSync } from 'node:fs'
import { ConfigError, generatePrivateKeyPem } from '@sso/shared'
import { describe, expect, it } from 'vitest'
import { loadBankConfig } from './config.js'

const goodSecret = 'Jq8vWmZ3xR0tLp7yNc2bKd5hGf9sAe4uTz6oYi1wXn8='

function loadError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadBankConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error('the config loaded')
}

describe('loadBankConfig', () => {
  it('applies the bank defaults', () => {
    const config = loadBankConfig({ NODE_ENV: 'production', JWT_SECRET: goodSecret })
    expect(config).toMatchObject({
      PORT: 3000,
      HOST: '127.0.0.1',
      DATABASE_PATH: 'data/bank.sqlite',
      ACCESS_TOKEN_TTL: 900,
      REFRESH_TOKEN_TTL: 604_800,
      COOKIE_SECURE: true,
      TRUST_PROXY: [],
    })
  })

  it('reads the token lifetimes as positive integers', () => {
    const config = loadBankConfig({ JWT_SECRET: goodSecret, ACCESS_TOKEN_TTL: '60', REFRESH_TOKEN_TTL: '3600' })
    expect(config).toMatchObject({ ACCESS_TOKEN_TTL: 60, REFRESH_TOKEN_TTL: 3600 })
  })

  it.each(['0', '-5', '1.5', '15m', '1e3'])('refuses ACCESS_TOKEN_TTL=%s naming the variable', (value) => {
    expect(loadError({ JWT_SECRET: goodSecret, ACCESS_TOKEN_TTL: value }).variable).toBe('ACCESS_TOKEN_TTL')
  })

  it('refuses a REFRESH_TOKEN_TTL that is not a positive integer', () => {
    expect(loadError({ JWT_SECRET: goodSecret, REFRESH_TOKEN_TTL: 'forever' }).variable).toBe('REFRESH_TOKEN_TTL')
  })

  it('reads REFRESH_REUSE_GRACE in seconds: 10 by default, 0 turns it off, at most 60', () => {
    expect(loadBankConfig({ JWT_SECRET: goodSecret }).REFRESH_REUSE_GRACE).toBe(10)
    expect(loadBankConfig({ JWT_SECRET: goodSecret, REFRESH_REUSE_GRACE: '0' }).REFRESH_REUSE_GRACE).toBe(0)
    expect(loadBankConfig({ JWT_SECRET: goodSecret, REFRESH_REUSE_GRACE: '60' }).REFRESH_REUSE_GRACE).toBe(60)
  })

  it.each(['61', '-1', '1.5', '10s', '1e1', ' 5', '100', 'ten'])(
    'refuses REFRESH_REUSE_GRACE=%s naming the variable',
    (value) => {
      const error = loadError({ JWT_SECRET: goodSecret, REFRESH_REUSE_GRACE: value })
      expect(error.variable).toBe('REFRESH_REUSE_GRACE')
      expect(error.message).toBe('REFRESH_REUSE_GRACE: must be a whole number of seconds from 0 (off) to 60')
    },
  )

  it.each([
    ['missing', {}],
    ['shorter than 32 bytes', { JWT_SECRET: 'x7Kp2mQ9vLr4' }],
    ['a placeholder', { JWT_SECRET: 'changeme' }],
    ['a long placeholder', { JWT_SECRET: 'changemechangemechangemechangeme' }],
  ])('refuses a JWT_SECRET that is %s in production, naming JWT_SECRET', (_case, env) => {
    const error = loadError({ NODE_ENV: 'production', ...env })
    expect(error.variable).toBe('JWT_SECRET')
    expect(error.message).toMatch(/^JWT_SECRET: /)
  })

  it('never echoes the secret in the error', () => {
    const secret = 'short-but-secret'
    expect(loadError({ NODE_ENV: 'production', JWT_SECRET: secret }).message).not.toContain(secret)
  })

  it('refuses a malformed public URL naming it', () => {
    const error = loadError({ JWT_SECRET: goodSecret, RETIREMENT_PUBLIC_URL: 'localhost:3001' })
    expect(error.variable).toBe('RETIREMENT_PUBLIC_URL')
  })

  it('honours COOKIE_SECURE=false in production', () => {
    const config = loadBankConfig({ NODE_ENV: 'production', JWT_SECRET: goodSecret, COOKIE_SECURE: 'false' })
    expect(config.COOKIE_SECURE).toBe(false)
  })

  it("notifies retirement's back-channel endpoint by default, or the BACKCHANNEL_LOGOUT_URLS given", () => {
    expect(loadBankConfig({ JWT_SECRET: goodSecret }).BACKCHANNEL_LOGOUT_URLS).toEqual([
      'http://localhost:3001/backchannel/logout',
    ])
    expect(
      loadBankConfig({ JWT_SECRET: goodSecret, RETIREMENT_PUBLIC_URL: 'https://retirement.example.com/' })
        .BACKCHANNEL_LOGOUT_URLS,
    ).toEqual(['https://retirement.example.com/backchannel/logout'])
    const urls = 'http://retirement:3001/backchannel/logout, https://other.example/logout'
    expect(loadBankConfig({ JWT_SECRET: goodSecret, BACKCHANNEL_LOGOUT_URLS: urls }).BACKCHANNEL_LOGOUT_URLS).toEqual([
      'http://retirement:3001/backchannel/logout',
      'https://other.example/logout',
    ])
  })

  it.each(['not a url', 'ftp://retirement/logout', 'http://user:pw@retirement/logout'])(
    'refuses BACKCHANNEL_LOGOUT_URLS=%s naming the variable',
    (value) => {
      expect(loadError({ JWT_SECRET: goodSecret, BACKCHANNEL_LOGOUT_URLS: value }).variable).toBe(
        'BACKCHANNEL_LOGOUT_URLS',
      )
    },
  )
})

describe('the private key (JWT_ALG=ES256 or EdDSA)', () => {
  const es256Key = generatePrivateKeyPem('ES256')
  const production = { NODE_ENV: 'production', JWT_ALG: 'ES256' } as const

  it('takes a PKCS#8 PEM key of the algorithm, and needs one in production', () => {
    expect(loadBankConfig({ ...production, JWT_PRIVATE_KEY: es256Key }).JWT_PRIVATE_KEY).toBe(es256Key)
    expect(loadError(production).variable).toBe('JWT_PRIVATE_KEY')
  })

  it('refuses a key of another kind, both variables at once, and a key in HS256 mode', () => {
    const edKey = generatePrivateKeyPem('EdDSA')
    expect(loadError({ ...production, JWT_PRIVATE_KEY: edKey }).message).toMatch(/^JWT_PRIVATE_KEY: must be a P-256/)
    expect(loadError({ ...production, JWT_PRIVATE_KEY: 'not a key' }).variable).toBe('JWT_PRIVATE_KEY')
    expect(loadError({ ...production, JWT_PRIVATE_KEY: es256Key, JWT_PRIVATE_KEY_FILE: '/x' }).variable).toBe(
      'JWT_PRIVATE_KEY',
    )
    expect(loadError({ NODE_ENV: 'production', JWT_SECRET: goodSecret, JWT_PRIVATE_KEY: es256Key }).variable).toBe(
      'JWT_PRIVATE_KEY',
    )
  })

  it('refuses a JWT_PUBLISHED_KEYS_FILE holding a private key', () => {
    const path = `${mkdtempSync('/tmp/keys-')}/published.json`
    writeFileSync(path, JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' }] }))
    expect(loadError({ ...production, JWT_PRIVATE_KEY: es256Key, JWT_PUBLISHED_KEYS_FILE: path }).variable).toBe(
      'JWT_PUBLISHED_KEYS_FILE',
    )
  })
})
