import { CommonConfig, ConfigError, loadConfig, Port } from '@sso/shared'
import { type Static, Type } from 'typebox'
import { readPublishedKeys, resolvePrivateKey } from './keys/signing-keys.js'

// docs/spec.md#configuration bounds it: the grace window is a hole in theft detection (a thief presenting the predecessor within it
// gets the successor too), so it stays short.
const MAX_REFRESH_REUSE_GRACE_SECONDS = 60

/** The bank's settings: the common ones, the lifetimes of the tokens it issues (seconds), and where to send logouts. */
export const BankConfig = Type.Object({
  ...CommonConfig.properties,
  PORT: Port(3000),
  DATABASE_PATH: Type.String({ minLength: 1, default: 'data/bank.sqlite' }),
  ACCESS_TOKEN_TTL: Type.Integer({ minimum: 1, default: 900 }),
  REFRESH_TOKEN_TTL: Type.Integer({ minimum: 1, default: 604_800 }),
  /** Seconds during which the refresh token rotated most recently may be presented again (parallel tabs); 0: off. */
  REFRESH_REUSE_GRACE: Type.Integer({
    minimum: 0,
    maximum: MAX_REFRESH_REUSE_GRACE_SECONDS,
    default: 10,
    errorMessage: `must be a whole number of seconds from 0 (off) to ${MAX_REFRESH_REUSE_GRACE_SECONDS}`,
  }),
  /**
   * Single logout: every back-channel logout endpoint to notify when a login session ends. Empty means retirement's
   * endpoint at RETIREMENT_PUBLIC_URL, a default that depends on another value, so the loader below fills it.
   */
  BACKCHANNEL_LOGOUT_URLS: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  /** ES256/EdDSA: the private key, PKCS#8 PEM; the loader puts the text of JWT_PRIVATE_KEY_FILE (or development's) here. */
  JWT_PRIVATE_KEY: Type.Optional(Type.String({ minLength: 1 })),
  JWT_PRIVATE_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  /** A JWKS file of further public keys to publish and verify with: the next key before it signs, retired keys. */
  JWT_PUBLISHED_KEYS_FILE: Type.Optional(Type.String({ minLength: 1 })),
})
export type BankConfig = Static<typeof BankConfig>

/** Retirement's back-channel logout endpoint, as browsers reach it; compose overrides it with the service address. */
export function defaultBackchannelLogoutUrl(retirementPublicUrl: string): string {
  return `${retirementPublicUrl.replace(/\/+$/, '')}/backchannel/logout`
}

/** Reads the bank's settings from the environment; throws a ConfigError naming the first bad variable. */
export function loadBankConfig(env: NodeJS.ProcessEnv): BankConfig {
  const config = loadConfig(BankConfig, env)
  if (config.BACKCHANNEL_LOGOUT_URLS.length === 0) {
    config.BACKCHANNEL_LOGOUT_URLS = [defaultBackchannelLogoutUrl(config.RETIREMENT_PUBLIC_URL)]
  }
  for (const url of config.BACKCHANNEL_LOGOUT_URLS) assertNotificationUrl(url)
  const privateKey = resolvePrivateKey(config)
  if (privateKey !== undefined) config.JWT_PRIVATE_KEY = privateKey
  readPublishedKeys(config.JWT_PUBLISHED_KEYS_FILE) // checked at start, so a bad file stops the bank with its name
  return config
}

function assertNotificationUrl(value: string) {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError('BACKCHANNEL_LOGOUT_URLS', 'must be comma-separated absolute http(s) URLs')
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.hash) {
    throw new ConfigError('BACKCHANNEL_LOGOUT_URLS', 'must be http(s) URLs without credentials or a #fragment')
  }
}
