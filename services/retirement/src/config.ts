import { CommonConfig, ConfigError, loadConfig, Port } from '@sso/shared'
import { type Static, Type } from 'typebox'

/** Retirement never issues tokens; beyond the shared settings it only needs to know how long a revocation matters. */
export const RetirementConfig = Type.Object({
  ...CommonConfig.properties,
  PORT: Port(3001),
  DATABASE_PATH: Type.String({ minLength: 1, default: 'data/retirement.sqlite' }),
  /**
   * Single logout: the longest access-token lifetime the bank may use (its ACCESS_TOKEN_TTL), in seconds. A revoked
   * session is remembered this long after the notice, since no token of it can outlive that. The default, a day, is
   * far above the bank's 900 s, so a longer ACCESS_TOKEN_TTL needs no change here.
   */
  MAX_ACCESS_TOKEN_TTL: Type.Integer({ minimum: 1, default: 86_400 }),
  /** ES256/EdDSA: where the bank's public keys are fetched; unset: the JWKS at BANK_PUBLIC_URL. */
  BANK_JWKS_URL: Type.Optional(Type.String({ minLength: 1 })),
})
export type RetirementConfig = Static<typeof RetirementConfig>

/** Reads and checks the settings once at start; throws a ConfigError naming the first wrong variable. */
export function loadRetirementConfig(env: NodeJS.ProcessEnv): RetirementConfig {
  const config = loadConfig(RetirementConfig, env)
  if (config.BANK_JWKS_URL !== undefined) {
    let url: URL | undefined
    try {
      url = new URL(config.BANK_JWKS_URL)
    } catch {}
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password) {
      throw new ConfigError('BANK_JWKS_URL', 'must be an absolute http(s) URL without credentials')
    }
  }
  return config
}

/** The bank's JWKS, where browsers reach the bank; compose overrides it with the bank's service address. */
export function defaultJwksUrl(bankPublicUrl: string): string {
  return `${bankPublicUrl.replace(/\/+$/, '')}/.well-known/jwks.json`
}
