import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import {
  ConfigError,
  createKeyPairKeyring,
  createKeyring,
  DEVELOPMENT_DATA_DIR,
  generatePrivateKeyPem,
  importPublicJwk,
  isKeyPairAlgorithm,
  type KeyPairAlgorithm,
  type Keyring,
  type PublicJwk,
  publicJwkOfKey,
  readPrivateSigningKey,
  type VerificationKey,
} from '@sso/shared'
import type { BankConfig } from '../config.js'

// The bank's keys in each mode. HS256: JWT_SECRET signs, JWT_PREVIOUS_SECRETS verify. ES256/EdDSA: the private key
// (JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE; in development a generated file) signs, and the public keys of
// JWT_PUBLISHED_KEYS_FILE (the next key, retired keys) and JWT_PREVIOUS_SECRETS (a migration from HS256) verify.

/** Where development keeps its generated private key, one file per algorithm; git-ignored like the secret. */
export function developmentPrivateKeyPath(algorithm: KeyPairAlgorithm): string {
  return `${DEVELOPMENT_DATA_DIR}/jwt-private-key-${algorithm.toLowerCase()}.pem`
}

/** Like the secret: 'wx', so two starts at once keep one key; 0600, since the key mints tokens for anyone. */
export function readOrCreateDevelopmentPrivateKey(path: string, algorithm: KeyPairAlgorithm): string {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  try {
    writeFileSync(path, generatePrivateKeyPem(algorithm), { flag: 'wx', mode: 0o600 })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
  return readFileSync(path, 'utf8')
}

function readKeyFile(variable: string, path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    throw new ConfigError(variable, `cannot read the file (${(error as NodeJS.ErrnoException).code})`)
  }
}

/**
 * The private key's PEM for a key-pair mode, from exactly one place, checked to be of JWT_ALG's kind; undefined for
 * HS256, where setting one is a mistake worth stopping for.
 */
export function resolvePrivateKey(config: BankConfig): string | undefined {
  const { JWT_ALG: algorithm, JWT_PRIVATE_KEY: inline, JWT_PRIVATE_KEY_FILE: file } = config
  if (!isKeyPairAlgorithm(algorithm)) {
    if (inline || file) {
      throw new ConfigError(
        inline ? 'JWT_PRIVATE_KEY' : 'JWT_PRIVATE_KEY_FILE',
        'is used only with JWT_ALG=ES256 or EdDSA',
      )
    }
    return undefined
  }
  if (inline && file) {
    throw new ConfigError('JWT_PRIVATE_KEY', 'set either JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE, not both')
  }
  if (!inline && !file && config.NODE_ENV === 'production') {
    throw new ConfigError(
      'JWT_PRIVATE_KEY',
      `is required in production with JWT_ALG=${algorithm} (generate one with: npm run admin -- key:rotate)`,
    )
  }
  const variable = file ? 'JWT_PRIVATE_KEY_FILE' : 'JWT_PRIVATE_KEY'
  const pem =
    inline ??
    (file
      ? readKeyFile(variable, file)
      : readOrCreateDevelopmentPrivateKey(developmentPrivateKeyPath(algorithm), algorithm))
  try {
    readPrivateSigningKey(pem, algorithm)
  } catch (error) {
    throw new ConfigError(variable, (error as Error).message)
  }
  return pem
}

/** JWT_PUBLISHED_KEYS_FILE: a JWKS of public keys (no private member), each with its thumbprint as `kid`. */
export function readPublishedKeys(path: string | undefined): VerificationKey[] {
  if (path === undefined) return []
  const variable = 'JWT_PUBLISHED_KEYS_FILE'
  let document: unknown
  try {
    document = JSON.parse(readKeyFile(variable, path))
  } catch (error) {
    if (error instanceof ConfigError) throw error
    throw new ConfigError(variable, 'is not JSON (a JWKS: {"keys":[…]})')
  }
  const keys = (document as { keys?: unknown })?.keys
  if (!Array.isArray(keys)) throw new ConfigError(variable, 'must be a JWKS: {"keys":[…]}')
  return keys.map((jwk, index) => {
    const key = importPublicJwk(jwk)
    if (!key) {
      throw new ConfigError(
        variable,
        `key ${index + 1} is not a public P-256 or Ed25519 JWK whose kid is its RFC 7638 thumbprint`,
      )
    }
    return key
  })
}

/** The bank's keys in its mode. */
export interface BankKeys {
  /** The current key signs; every other configured key verifies. */
  keyring: Keyring
  /** What /.well-known/jwks.json lists: the signing key first, then the published ones; undefined in HS256 mode. */
  publicJwks: PublicJwk[] | undefined
}

/** The bank's keyring and published keys for its mode. */
export function createBankKeys(config: BankConfig): BankKeys {
  if (!isKeyPairAlgorithm(config.JWT_ALG)) {
    if (config.JWT_SECRET === undefined) throw new ConfigError('JWT_SECRET', 'is required with JWT_ALG=HS256')
    return { keyring: createKeyring(config.JWT_SECRET, config.JWT_PREVIOUS_SECRETS), publicJwks: undefined }
  }
  const pem = config.JWT_PRIVATE_KEY ?? resolvePrivateKey(config)
  if (pem === undefined) throw new ConfigError('JWT_PRIVATE_KEY', 'is required')
  const signingKey = readPrivateSigningKey(pem, config.JWT_ALG)
  const publishedKeys = readPublishedKeys(config.JWT_PUBLISHED_KEYS_FILE).filter((key) => key.kid !== signingKey.kid)
  const keyring = createKeyPairKeyring({ signingKey, publishedKeys, previousSecrets: config.JWT_PREVIOUS_SECRETS })
  const publicJwks = [{ ...signingKey, key: signingKey.verificationKey }, ...publishedKeys].map(publicJwkOfKey)
  return { keyring, publicJwks }
}

/**
 * What keys the refresh tokens' MAC (refresh-token.ts): the bank's own signing secret or private key first, then
 * JWT_PREVIOUS_SECRETS. Only the bank holds any of them. A rotated private key takes its MAC key with it: tokens
 * issued before still rotate (the current one is found by its hash), but an older one of theirs presented after the
 * rotation is a plain 401 rather than a detected reuse.
 */
export function refreshTokenSecrets(config: BankConfig): [string, ...string[]] {
  const current = isKeyPairAlgorithm(config.JWT_ALG) ? config.JWT_PRIVATE_KEY : config.JWT_SECRET
  if (current === undefined)
    throw new ConfigError(isKeyPairAlgorithm(config.JWT_ALG) ? 'JWT_PRIVATE_KEY' : 'JWT_SECRET', 'is required')
  return [current, ...config.JWT_PREVIOUS_SECRETS]
}
