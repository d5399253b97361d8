import { createHmac, randomUUID } from 'node:crypto'
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '../access-token.js'
import { deriveKeyId } from '../keyring.js'
import {
  BACKCHANNEL_LOGOUT_EVENT,
  LOGOUT_TOKEN_AUDIENCE,
  LOGOUT_TOKEN_MAX_LIFETIME_SECONDS,
  LOGOUT_TOKEN_TYPE,
} from '../logout-token.js'

// The one place tests build JWTs by hand, so they can produce exactly the malformed or malicious token under test
// (alg none, HS512, a foreign kid, duplicate members...) rather than only what a well-behaved library would sign.
// The claims come from the same constants the services check (access-token.ts, logout-token.ts). Test code only:
// the production build leaves this folder out.

/** An HMAC hash, or `none` for a token with an empty signature. */
export type ForgeHash = 'sha256' | 'sha384' | 'sha512' | 'none'
const HASH_BY_ALG: Record<string, ForgeHash> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }

/** base64url of a JSON value, or of a raw string or bytes taken as they are. */
export function base64url(value: string | Buffer | object): string {
  const bytes = typeof value === 'string' || Buffer.isBuffer(value) ? value : JSON.stringify(value)
  return Buffer.from(bytes).toString('base64url')
}

/** The base64url HMAC of a signing input with any hash and any key. */
export function hmacSignature(signingInput: string, secret: string | Buffer, hash: ForgeHash = 'sha256'): string {
  return hash === 'none' ? '' : createHmac(hash, secret).update(signingInput).digest('base64url')
}

/**
 * Signs `header.payload`. Each part is a JSON value, or raw text taken as is (duplicate members, bad JSON). The
 * hash is `hash` when given; otherwise the header's HS alg (any other alg gets no signature), and SHA-256 for a
 * raw-text header.
 */
export function forgeToken(
  header: object | string,
  payload: unknown,
  secret: string | Buffer,
  hash: ForgeHash = typeof header === 'string'
    ? 'sha256'
    : (HASH_BY_ALG[(header as { alg?: string }).alg ?? ''] ?? 'none'),
): string {
  const signingInput = `${base64url(header)}.${base64url(payload as object)}`
  return `${signingInput}.${hmacSignature(signingInput, secret, hash)}`
}

/** The header and claims of a compact JWT, decoded without any check: for asserting and forging, never for trust. */
export function decodeToken(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [header = '', claims = ''] = token.split('.')
  const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  return { header: decode(header), claims: decode(claims) }
}

/** `base` with `changes` merged over it; a change to undefined removes the member. */
export function mergeMembers(base: Record<string, unknown>, changes: Record<string, unknown> = {}) {
  const merged: Record<string, unknown> = { ...base, ...changes }
  for (const [name, value] of Object.entries(changes)) if (value === undefined) delete merged[name]
  return merged
}

/** Claims of an access token the bank would issue right now (fixed ids), for tests to alter one at a time. */
export function validClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return {
    sub: '0b7e3f0e-6a53-4d4b-9c57-2f1c7d1b9a10',
    username: 'alice',
    sid: 'session-1',
    jti: 'token-1',
    iss: TOKEN_ISSUER,
    aud: [...TOKEN_AUDIENCE],
    iat: now,
    exp: now + 900,
    ...overrides,
  }
}

export interface ForgeAccessTokenOptions {
  /** The key to sign with (its `kid` goes in the default header). */
  secret: string
  /** Replaces the header entirely, e.g. to drop `kid` or claim another algorithm. */
  header?: Record<string, unknown>
  /** Merged over the claims the bank would issue; a value of undefined removes that claim. */
  claims?: Record<string, unknown>
}

/**
 * An access token as the bank issues it for `user` (HS256, `kid` derived from the key, a fresh `sid` and `jti`),
 * or wrong in exactly the ways `header` and `claims` say.
 */
export function forgeAccessToken(user: { id: string; username: string }, options: ForgeAccessTokenOptions): string {
  const header = options.header ?? { alg: 'HS256', typ: 'JWT', kid: deriveKeyId(options.secret) }
  const claims = validClaims({ sub: user.id, username: user.username, sid: randomUUID(), jti: randomUUID() })
  return forgeToken(header, mergeMembers(claims, options.claims), options.secret)
}

/**
 * A logout token as the bank signs it (typ logout+jwt, `kid` from the key, audience retirement, a fresh `jti`, a
 * random `sid` unless `claims` names one), or wrong in exactly the ways `header` and `claims` say.
 */
export function forgeLogoutToken(
  secret: string,
  { header = {}, claims = {} }: { header?: Record<string, unknown>; claims?: Record<string, unknown> } = {},
): string {
  const now = Math.floor(Date.now() / 1000)
  const defaults = {
    iss: TOKEN_ISSUER,
    aud: [...LOGOUT_TOKEN_AUDIENCE],
    iat: now,
    exp: now + LOGOUT_TOKEN_MAX_LIFETIME_SECONDS,
    jti: randomUUID(),
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    sid: randomUUID(),
  }
  return forgeToken(
    mergeMembers({ alg: 'HS256', typ: LOGOUT_TOKEN_TYPE, kid: deriveKeyId(secret) }, header),
    mergeMembers(defaults, claims),
    secret,
  )
}

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/**
 * Every other spelling of a token that decodes to the same bytes: the last character of a segment carries 2 or 4
 * bits that encode nothing (RFC 4648 §3.5 says they are zero), and a lenient decoder ignores them. One token per
 * respelling, for each segment whose length leaves spare bits.
 */
export function respellings(token: string): string[] {
  const segments = token.split('.')
  return segments.flatMap((segment, index) => {
    const spareBits = segment.length % 4 === 2 ? 4 : segment.length % 4 === 3 ? 2 : 0
    const last = BASE64URL_ALPHABET.indexOf(segment.at(-1) ?? '')
    return Array.from({ length: 2 ** spareBits - 1 }, (_, step) => {
      const respelled = [...segments]
      respelled[index] = segment.slice(0, -1) + BASE64URL_ALPHABET[last + step + 1]
      return respelled.join('.')
    })
  })
}

/** A header and claims padded (by a `pad` member of each) so that each of the token's three segments has spare bits. */
export function forgeTokenWithSpareBits(header: object, payload: object, secret: string | Buffer): string {
  for (let headerPad = 0; headerPad < 3; headerPad++) {
    for (let payloadPad = 0; payloadPad < 3; payloadPad++) {
      const token = forgeToken(
        { ...header, ...(headerPad > 0 ? { pad: 'x'.repeat(headerPad) } : {}) },
        { ...payload, ...(payloadPad > 0 ? { pad: 'x'.repeat(payloadPad) } : {}) },
        secret,
      )
      if (token.split('.').every((segment) => segment.length % 4 !== 0)) return token
    }
  }
  throw new Error('no padding gives every segment spare bits')
}
