import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto'

// A refresh token is `<sid>.<generation>.<secret>.<mac>`:
// - `secret`: 32 random bytes (256 bits) in base64url, what makes the token unguessable;
// - `sid` and `generation` (0 at login, +1 per rotation): so the bank recognises *every* older token of a session
//   (theft) from one row per session, instead of keeping a row per rotated token forever;
// - `mac`: HMAC-SHA256 over the three, keyed from the bank's JWT secret, truncated to 128 bits.
//
// Why the MAC, thinking as an attacker: the sid is no secret (it is in every access token, in logs and in logout
// tokens), and "an older generation of session X was presented" revokes session X. Without the MAC anyone could end
// anyone's session by sending `<their sid>.0.<garbage>`. With it, only a token the bank itself issued counts as a
// member of the family: an invented or altered one is a plain 401 and touches nothing (not even the session's rate
// limit). The MAC key is derived from JWT_SECRET and never stored, so a copy of the database cannot forge one either.
// Which token is the *current* one is still decided by its SHA-256 in the database, never by the MAC alone.
//
// Tokens from before this format (43 characters, no dots) are still accepted while they are a session's current
// token, and rotate into this format; see sessions-repository.ts.

/** A refresh token as presented, parsed; nothing in it is trusted until checked. */
export interface PresentedRefreshToken {
  token: string
  /** SHA-256 of the whole token: what the database stores and compares. */
  hash: Buffer
  /** Undefined for a token of the earlier format (random only). */
  family?: { sessionId: string; generation: number; payload: string; mac: Buffer }
}

const TOKEN_PATTERN =
  /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.(0|[1-9]\d{0,14})\.([\w-]{43})\.([\w-]{22})$/
const LEGACY_TOKEN_PATTERN = /^[\w-]{43}$/
// The generation column is a 32-bit integer on PostgreSQL. A session rotates at most 30 times a minute for at most
// its lifetime, far below this, so a larger number was never issued: refused here, before any query, as a 401.
const MAX_GENERATION = 2 ** 31 - 1
const MAC_BYTES = 16
const GCM_IV_BYTES = 12
const GCM_TAG_BYTES = 16
const MAC_KEY_INFO = 'bank-sso refresh token family v1'
const SUCCESSOR_KEY_INFO = 'bank-sso refresh successor v1'

/** Refresh tokens are looked up by hash, so a leaked database holds nothing that can be presented. */
export function hashRefreshToken(token: string): Buffer {
  return createHash('sha256').update(token).digest()
}

function deriveKey(secret: string | Buffer, salt: string, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, salt, info, 32))
}

/**
 * Issues, parses and authenticates refresh tokens. `secrets` is JWT_SECRET first (it MACs new tokens), then
 * JWT_PREVIOUS_SECRETS (a token issued before a key rotation is still recognised as the family's).
 */
export function createRefreshTokens(secrets: readonly [string, ...string[]]) {
  const macKeys = secrets.map((secret) => deriveKey(secret, '', MAC_KEY_INFO))
  const [signingKey] = macKeys as [Buffer, ...Buffer[]]
  const macOf = (key: Buffer, payload: string) =>
    createHmac('sha256', key).update(payload).digest().subarray(0, MAC_BYTES)

  return {
    /** A new token for a session's given generation. */
    issue(sessionId: string, generation: number): string {
      const payload = `${sessionId}.${generation}.${randomBytes(32).toString('base64url')}`
      return `${payload}.${macOf(signingKey, payload).toString('base64url')}`
    },

    /** Undefined when the shape is wrong: such a token cannot be anyone's, and is refused without a lookup. */
    parse(token: string): PresentedRefreshToken | undefined {
      if (LEGACY_TOKEN_PATTERN.test(token)) return { token, hash: hashRefreshToken(token) }
      const match = TOKEN_PATTERN.exec(token)
      if (!match) return undefined
      const [, sessionId = '', generation = '', secret = '', mac = ''] = match
      if (Number(generation) > MAX_GENERATION) return undefined
      return {
        token,
        hash: hashRefreshToken(token),
        family: {
          sessionId,
          generation: Number(generation),
          payload: `${sessionId}.${generation}.${secret}`,
          mac: Buffer.from(mac, 'base64url'),
        },
      }
    },

    /** Whether the bank issued this token (for the session and generation it names). */
    isGenuine(presented: PresentedRefreshToken): boolean {
      const family = presented.family
      if (!family || family.mac.length !== MAC_BYTES) return false
      return macKeys.some((key) => timingSafeEqual(macOf(key, family.payload), family.mac))
    },

    /**
     * The successor, encrypted (AES-256-GCM) under a key derived (HKDF-SHA256) from the predecessor. Only whoever
     * presents the predecessor can open it, so the database holds no usable token even during the grace window.
     * The session id and generation are authenticated with it: a box cannot be moved to another row.
     */
    sealSuccessor(predecessor: string, successor: string, sessionId: string, generation: number): Buffer {
      const iv = randomBytes(GCM_IV_BYTES)
      const cipher = createCipheriv('aes-256-gcm', deriveKey(predecessor, sessionId, SUCCESSOR_KEY_INFO), iv)
      cipher.setAAD(Buffer.from(`${sessionId}.${generation}`))
      const sealed = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()])
      return Buffer.concat([iv, sealed, cipher.getAuthTag()])
    },

    /** The successor sealed for this predecessor, or undefined if it does not open. */
    openSuccessor(predecessor: string, box: Buffer, sessionId: string, generation: number): string | undefined {
      if (box.length <= GCM_IV_BYTES + GCM_TAG_BYTES) return undefined
      try {
        const decipher = createDecipheriv(
          'aes-256-gcm',
          deriveKey(predecessor, sessionId, SUCCESSOR_KEY_INFO),
          box.subarray(0, GCM_IV_BYTES),
        )
        decipher.setAAD(Buffer.from(`${sessionId}.${generation}`))
        decipher.setAuthTag(box.subarray(box.length - GCM_TAG_BYTES))
        const sealed = box.subarray(GCM_IV_BYTES, box.length - GCM_TAG_BYTES)
        return Buffer.concat([decipher.update(sealed), decipher.final()]).toString('utf8')
      } catch {
        return undefined
      }
    },
  }
}
export type RefreshTokens = ReturnType<typeof createRefreshTokens>
