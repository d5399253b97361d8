import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto'

/** The algorithms a token may be signed with: a secret both services hold, or a key pair only the bank holds. */
export type SigningAlgorithm = 'HS256' | 'ES256' | 'EdDSA'
/** The key-pair algorithms: the bank signs with its private key, every other service verifies with the public one. */
export const KEY_PAIR_ALGORITHMS = ['ES256', 'EdDSA'] as const
export type KeyPairAlgorithm = (typeof KEY_PAIR_ALGORITHMS)[number]

/** Whether `algorithm` is a key pair's (ES256, EdDSA), as opposed to the shared HS256 secret. */
export function isKeyPairAlgorithm(algorithm: string): algorithm is KeyPairAlgorithm {
  return (KEY_PAIR_ALGORITHMS as readonly string[]).includes(algorithm)
}

/**
 * One key a token may name by `kid`, and the one algorithm it is used with: the algorithm belongs to the key, never to
 * the token's header (RFC 8725 §3.1), so an HS256 token "keyed" with a public key's text is refused.
 */
export interface VerificationKey {
  readonly kid: string
  readonly algorithm: SigningAlgorithm
  /** HS256: the secret; a key pair: the public key as SPKI PEM. */
  readonly key: string
}

/** The key the bank signs with. */
export interface SigningKey extends VerificationKey {
  /** HS256: the secret (signs and verifies); a key pair: the private key as PKCS#8 PEM. */
  readonly key: string
  /** A key pair's public half, as SPKI PEM (what verifies what this key signs); HS256: the secret again. */
  readonly verificationKey: string
}

/** The current key signs (bank only); every key of the ring verifies, found by the `kid` a token names. */
export interface Keyring {
  /** The bank's signing key; undefined where the keys are only the bank's published public keys (retirement). */
  readonly signingKey?: SigningKey | undefined
  /** The key a token's `kid` names, or undefined: an unknown `kid` is refused, never "try every key". */
  findVerificationKey(kid: unknown): VerificationKey | undefined
  /**
   * Where the keys are fetched (retirement in a key-pair mode): fetch again for a `kid` not known yet, within the
   * fetcher's bounds (never once per token), and answer the key if it then is known.
   */
  findUnknownKey?: ((kid: string) => Promise<VerificationKey | undefined>) | undefined
}

/** A public key as RFC 7517 writes it; what the bank publishes at /.well-known/jwks.json. */
export interface PublicJwk {
  kty: 'EC' | 'OKP'
  crv: 'P-256' | 'Ed25519'
  x: string
  y?: string
  kid: string
  alg: KeyPairAlgorithm
  use: 'sig'
}

/**
 * An HS256 `kid` is derived from the key itself, so every service computes the same name with no extra
 * configuration, and it can never be a path, URL or SQL fragment an attacker steers. It is an HMAC of a fixed label
 * rather than a plain hash of the key, so publishing it tells nothing that helps guess the key.
 */
export function deriveKeyId(secret: string): string {
  return createHmac('sha256', secret).update('bank-sso key id v1').digest('base64url').slice(0, 16)
}

function secretKey(secret: string): VerificationKey {
  return { kid: deriveKeyId(secret), algorithm: 'HS256', key: secret }
}

function createRing(signingKey: SigningKey | undefined, verificationKeys: readonly VerificationKey[]): Keyring {
  const keysById = new Map<string, VerificationKey>()
  for (const key of verificationKeys) keysById.set(key.kid, key)
  return {
    signingKey,
    findVerificationKey: (kid) => (typeof kid === 'string' ? keysById.get(kid) : undefined),
  }
}

/** HS256: the current secret signs, `JWT_PREVIOUS_SECRETS` only verify tokens issued before the switch. */
export function createKeyring(currentSecret: string, previousSecrets: readonly string[] = []): Keyring {
  const current = secretKey(currentSecret)
  const signingKey = { ...current, verificationKey: currentSecret }
  return createRing(signingKey, [...previousSecrets.map(secretKey), signingKey])
}

/**
 * A key pair (the bank): the private key signs; its public key, the published ones (`JWT_PUBLISHED_KEYS_FILE`: the
 * next and the retired keys) and the HS256 `JWT_PREVIOUS_SECRETS` of a migration verify.
 */
export function createKeyPairKeyring(options: {
  signingKey: SigningKey
  publishedKeys?: readonly VerificationKey[]
  previousSecrets?: readonly string[]
}): Keyring {
  const { signingKey, publishedKeys = [], previousSecrets = [] } = options
  return createRing(signingKey, [...previousSecrets.map(secretKey), ...publishedKeys, signingKey])
}

/**
 * Verification only, from keys fetched elsewhere (retirement: the bank's JWKS, plus the HS256 secrets of a
 * migration); `findUnknownKey` asks the fetcher again.
 */
export function createVerifyingKeyring(
  keys: readonly VerificationKey[],
  findUnknownKey?: (kid: string) => Promise<VerificationKey | undefined>,
): Keyring {
  return { ...createRing(undefined, keys), findUnknownKey }
}

/** The verification key of HS256 secrets, for rings built from fetched keys plus `JWT_PREVIOUS_SECRETS`. */
export function secretVerificationKeys(secrets: readonly string[]): VerificationKey[] {
  return secrets.map(secretKey)
}

/** The key pair algorithm a key object is for, or undefined (RSA, another curve, a secret). */
function algorithmOfKey(key: KeyObject): KeyPairAlgorithm | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA'
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256'
  return undefined
}

const KEY_KIND: Record<KeyPairAlgorithm, string> = { ES256: 'a P-256 (EC) key', EdDSA: 'an Ed25519 key' }

/** A fresh private key for `algorithm`, as PKCS#8 PEM (development, and `admin key:rotate`). */
export function generatePrivateKeyPem(algorithm: KeyPairAlgorithm): string {
  const { privateKey } =
    algorithm === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519')
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
}

/**
 * The bank's signing key from its PKCS#8 PEM, checked to be of `algorithm`'s kind. Throws an Error whose message
 * says what is wrong and never echoes the key.
 */
export function readPrivateSigningKey(pem: string, algorithm: KeyPairAlgorithm): SigningKey {
  if (!/^-----BEGIN PRIVATE KEY-----\r?\n/.test(pem.trimStart())) {
    throw new Error(`must be a PKCS#8 PEM private key ("-----BEGIN PRIVATE KEY-----") of ${KEY_KIND[algorithm]}`)
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' })
  } catch {
    throw new Error('is not a readable PEM private key')
  }
  if (algorithmOfKey(privateKey) !== algorithm) {
    throw new Error(`must be ${KEY_KIND[algorithm]}, as JWT_ALG=${algorithm} asks`)
  }
  const publicKey = createPublicKey(privateKey)
  return {
    kid: publicJwkOf(publicKey).kid,
    algorithm,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    verificationKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  }
}

/** RFC 7638: SHA-256 over the required members only, in lexicographic order, base64url. */
export function jwkThumbprint(jwk: Pick<PublicJwk, 'kty' | 'crv' | 'x' | 'y'>): string {
  const members =
    jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}

/** A public key as the JWK the bank publishes: public members only, `kid` its thumbprint, `alg`, `use: "sig"`. */
export function publicJwkOf(publicKey: KeyObject): PublicJwk {
  const algorithm = algorithmOfKey(publicKey)
  if (!algorithm) throw new Error('not a P-256 or Ed25519 key')
  // Picked member by member, so a private member (`d`) could never be published even from a private key object.
  const exported = (publicKey.type === 'private' ? createPublicKey(publicKey) : publicKey).export({ format: 'jwk' })
  const members =
    algorithm === 'ES256'
      ? { kty: 'EC' as const, crv: 'P-256' as const, x: String(exported.x), y: String(exported.y) }
      : { kty: 'OKP' as const, crv: 'Ed25519' as const, x: String(exported.x) }
  return { ...members, kid: jwkThumbprint(members), alg: algorithm, use: 'sig' }
}

/** The public JWK of a verification key of a key pair (its SPKI PEM). */
export function publicJwkOfKey(key: VerificationKey): PublicJwk {
  return publicJwkOf(createPublicKey(key.key))
}

/**
 * A published JWK as a verification key, or undefined when it is not one we use: not a P-256 or Ed25519 public
 * key, a private member present, an `alg` or `use` that does not fit the key, or a `kid` that is not its thumbprint
 * (a `kid` names the key itself, so no two keys can share one).
 */
export function importPublicJwk(value: unknown): VerificationKey | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const jwk = value as Record<string, unknown>
  if ('d' in jwk || (jwk.use !== undefined && jwk.use !== 'sig')) return undefined
  const isEc = jwk.kty === 'EC' && jwk.crv === 'P-256' && typeof jwk.y === 'string'
  const isEd = jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && jwk.y === undefined
  if ((!isEc && !isEd) || typeof jwk.x !== 'string') return undefined
  const algorithm: KeyPairAlgorithm = isEc ? 'ES256' : 'EdDSA'
  if (jwk.alg !== undefined && jwk.alg !== algorithm) return undefined
  let publicKey: KeyObject
  try {
    const members = isEc ? { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y } : { kty: 'OKP', crv: 'Ed25519', x: jwk.x }
    publicKey = createPublicKey({ key: members as never, format: 'jwk' })
  } catch {
    return undefined
  }
  const published = publicJwkOf(publicKey)
  if (jwk.kid !== published.kid) return undefined
  return { kid: published.kid, algorithm, key: publicKey.export({ type: 'spki', format: 'pem' }).toString() }
}

/** The protected header of a compact JWS, parsed alone (for `kid`, `alg` and `typ`); undefined when malformed. */
export function readJoseHeader(token: string): { kid?: unknown; typ?: unknown; alg?: unknown } | undefined {
  const headerEnd = token.indexOf('.')
  if (headerEnd <= 0) return undefined
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, headerEnd), 'base64url').toString('utf8'))
    return typeof header === 'object' && header !== null && !Array.isArray(header) ? header : undefined
  } catch {
    return undefined
  }
}
