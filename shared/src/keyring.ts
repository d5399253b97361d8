import { createHmac } from 'node:crypto'

/** One HS256 key and the public name (`kid`) tokens carry to say which key signed them. */
export interface SigningKey {
  readonly kid: string
  readonly secret: string
}

/** The current key signs; previous keys (rotation) only verify tokens issued before the switch. */
export interface Keyring {
  readonly signingKey: SigningKey
  /** The key a token's `kid` names, or undefined: an unknown `kid` is refused, never "try every key". */
  findVerificationKey(kid: unknown): SigningKey | undefined
}

/**
 * A `kid` is derived from the key itself, so every service computes the same name with no extra configuration,
 * and it can never be a path, URL or SQL fragment an attacker steers. It is an HMAC of a fixed label rather than
 * a plain hash of the key, so publishing it tells nothing that helps guess the key.
 */
export function deriveKeyId(secret: string): string {
  return createHmac('sha256', secret).update('bank-sso key id v1').digest('base64url').slice(0, 16)
}

/** Builds the keyring from the current secret and `JWT_PREVIOUS_SECRETS`. */
export function createKeyring(currentSecret: string, previousSecrets: readonly string[] = []): Keyring {
  const signingKey = { kid: deriveKeyId(currentSecret), secret: currentSecret }
  const keysById = new Map<string, SigningKey>()
  for (const secret of previousSecrets) keysById.set(deriveKeyId(secret), { kid: deriveKeyId(secret), secret })
  keysById.set(signingKey.kid, signingKey)
  return {
    signingKey,
    findVerificationKey: (kid) => (typeof kid === 'string' ? keysById.get(kid) : undefined),
  }
}

/** The protected header of a compact JWS, parsed alone (for `kid` and `typ`); undefined when malformed, and refused. */
export function readJoseHeader(token: string): { kid?: unknown; typ?: unknown } | undefined {
  const headerEnd = token.indexOf('.')
  if (headerEnd <= 0) return undefined
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, headerEnd), 'base64url').toString('utf8'))
    return typeof header === 'object' && header !== null && !Array.isArray(header) ? header : undefined
  } catch {
    return undefined
  }
}
