import { ConfigError } from '@sso/shared'
import { describe, expect, it } from 'vitest'
import { loadRetirementConfig } from './config.js'
import { TEST_JWT_SECRET } from './test-app.js'

const production = { NODE_ENV: 'production', JWT_SECRET: TEST_JWT_SECRET }

describe('loadRetirementConfig', () => {
  it('defaults to port 3001 and its own SQLite file', () => {
    const config = loadRetirementConfig(production)
    expect(config).toMatchObject({ PORT: 3001, DATABASE_PATH: 'data/retirement.sqlite', COOKIE_SECURE: true })
  })

  it('honours COOKIE_SECURE=false, TRUST_PROXY and JWT_PREVIOUS_SECRETS', () => {
    const previous = 'an-older-key-0f1e2d3c4b5a69788796a5b4c3d2e1f0'
    const config = loadRetirementConfig({
      ...production,
      COOKIE_SECURE: 'false',
      TRUST_PROXY: '10.0.0.0/8, 127.0.0.1',
      JWT_PREVIOUS_SECRETS: previous,
    })
    expect(config).toMatchObject({
      COOKIE_SECURE: false,
      TRUST_PROXY: ['10.0.0.0/8', '127.0.0.1'],
      JWT_PREVIOUS_SECRETS: [previous],
    })
  })

  it.each([
    ['JWT_SECRET', { NODE_ENV: 'production' }],
    ['JWT_SECRET', { ...production, JWT_SECRET: 'too-short' }],
    ['PORT', { ...production, PORT: '30o1' }],
    ['BANK_PUBLIC_URL', { ...production, BANK_PUBLIC_URL: 'localhost:3000' }],
  ])('refuses to start with a bad %s', (variable, env) => {
    expect(() => loadRetirementConfig(env)).toThrow(ConfigError)
    expect(() => loadRetirementConfig(env)).toThrow(new RegExp(`^${variable}:`))
  })

  it('remembers a revoked session for a day unless MAX_ACCESS_TOKEN_TTL says how long tokens may live', () => {
    expect(loadRetirementConfig(production).MAX_ACCESS_TOKEN_TTL).toBe(86_400)
    expect(loadRetirementConfig({ ...production, MAX_ACCESS_TOKEN_TTL: '900' }).MAX_ACCESS_TOKEN_TTL).toBe(900)
    expect(() => loadRetirementConfig({ ...production, MAX_ACCESS_TOKEN_TTL: '15m' })).toThrow(ConfigError)
  })
})
