import { randomUUID } from 'node:crypto'
import type { JWT } from '@fastify/jwt'
import { type Static, Type } from 'typebox'
import { Compile } from 'typebox/compile'
import { CLOCK_TOLERANCE_SECONDS, MAX_TOKEN_BYTES, type ServiceName, TOKEN_ISSUER } from './access-token.js'
import { isCanonicalCompactJws } from './canonical-jws.js'
import { InvalidLogoutTokenError } from './errors.js'
import { type Keyring, readJoseHeader } from './keyring.js'

// OpenID Connect Back-Channel Logout 1.0, §2.4: the bank tells each relying service, server to server, that a
// login session ended. The token is a JWT from the same keyring as access tokens, told apart by its `typ`, its
// audience and its claims, so neither kind of token is ever accepted as the other.

/** The `typ` header of a logout token (RFC 8725 §3.11 explicit typing); `application/logout+jwt` is the same. */
export const LOGOUT_TOKEN_TYPE = 'logout+jwt'
/** The member of the `events` claim that makes a JWT a back-channel logout token. */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'
/** Who logout tokens are for: the relying services, never the bank itself. */
export const LOGOUT_TOKEN_AUDIENCE = ['retirement'] as const
/** docs/spec.md#logout-tokens: `exp` at most 2 minutes after `iat`. A notice retried later is signed afresh. */
export const LOGOUT_TOKEN_MAX_LIFETIME_SECONDS = 120

/** A logout token's claims as docs/spec.md#logout-tokens lists them; `sid` or `sub` (or both) must be there. */
export const LogoutTokenClaims = Type.Object({
  iss: Type.Literal(TOKEN_ISSUER),
  aud: Type.Union([Type.String(), Type.Array(Type.String())]),
  iat: Type.Integer(),
  exp: Type.Integer(),
  jti: Type.String({ minLength: 1, maxLength: 64 }),
  events: Type.Object({ [BACKCHANNEL_LOGOUT_EVENT]: Type.Object({}) }),
  sid: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  sub: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
})
export type LogoutTokenClaims = Static<typeof LogoutTokenClaims>
const logoutTokenClaimsValidator = Compile(LogoutTokenClaims)

/** What ended: one login session (`sid`, with its user as `sub`), or every session of a user (`sub` alone). */
export type LogoutSubject = { sid: string; sub?: string } | { sid?: undefined; sub: string }

/** A verified logout token, as the receiving service acts on it. */
export interface LogoutNotice {
  sessionId: string | undefined
  userId: string | undefined
  tokenId: string
  /** Seconds since the epoch; with `sub` alone, the user's tokens issued at or before it are revoked. */
  issuedAtSeconds: number
  /** Seconds since the epoch; the `jti` must be remembered at least this long (plus clock tolerance). */
  expiresAtSeconds: number
}

/**
 * Signs a logout token with the keyring's current key: `typ: logout+jwt`, `kid`, `iss`, `aud: ["retirement"]`,
 * `iat`, `exp` ({@link LOGOUT_TOKEN_MAX_LIFETIME_SECONDS} later), a fresh `jti`, the `events` claim and the subject.
 */
export function signLogoutToken(jwt: JWT, keyring: Keyring, subject: LogoutSubject): string {
  const { signingKey } = keyring
  if (!signingKey) throw new Error('only the bank signs logout tokens')
  const claims: Record<string, unknown> = { events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } }
  if (subject.sid !== undefined) claims.sid = subject.sid
  if (subject.sub !== undefined) claims.sub = subject.sub
  // The payload type @fastify/jwt knows is the access token's; a logout token deliberately has other claims.
  return jwt.sign(claims as never, {
    key: signingKey.key,
    kid: signingKey.kid,
    algorithm: signingKey.algorithm,
    header: { alg: signingKey.algorithm, typ: LOGOUT_TOKEN_TYPE, kid: signingKey.kid },
    iss: TOKEN_ISSUER,
    aud: [...LOGOUT_TOKEN_AUDIENCE],
    jti: randomUUID(),
    // Seconds: @fastify/jwt converts a number to milliseconds for fast-jwt.
    expiresIn: LOGOUT_TOKEN_MAX_LIFETIME_SECONDS,
  })
}

/**
 * Verifies a logout token as §2.6 of the specification lists: signature with the key its `kid` names, in that key's algorithm, `typ`
 * logout+jwt, `iss`, `aud` containing this service, `iat`/`exp`/`jti`/`events` present, `exp` at most 2 minutes
 * after `iat`, the events claim's shape, `sid` or `sub`, and no `nonce`. Throws {@link InvalidLogoutTokenError}.
 * Replay (a `jti` seen before) is the caller's check: it needs storage.
 */
export function verifyLogoutToken(jwt: JWT, keyring: Keyring, audience: ServiceName, token: string): LogoutNotice {
  // One spelling per token, or the caller's `jti` replay store could be shown the same notice as several.
  if (token.length > MAX_TOKEN_BYTES || !isCanonicalCompactJws(token)) throw new InvalidLogoutTokenError()
  const header = readJoseHeader(token)
  const key = keyring.findVerificationKey(header?.kid)
  if (!key) {
    // Not waited for (the bank retries a refused notice); the key is known by then if the bank really has it.
    if (typeof header?.kid === 'string') keyring.findUnknownKey?.(header.kid).catch(() => {})
    throw new InvalidLogoutTokenError()
  }
  // The algorithm is the key's, never the header's (see access-token.ts).
  if (header?.alg !== key.algorithm) throw new InvalidLogoutTokenError()
  let claims: unknown
  try {
    claims = jwt.verify<object>(token, {
      key: key.key,
      algorithms: [key.algorithm],
      // fast-jwt lowercases the header's typ and strips `application/` before comparing.
      checkTyp: LOGOUT_TOKEN_TYPE,
      allowedIss: TOKEN_ISSUER,
      allowedAud: audience,
      requiredClaims: ['iss', 'aud', 'iat', 'exp', 'jti', 'events'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS * 1000,
      cache: false,
    })
  } catch {
    throw new InvalidLogoutTokenError()
  }
  if (!logoutTokenClaimsValidator.Check(claims)) throw new InvalidLogoutTokenError()
  const { sid, sub, jti, iat, exp } = claims
  const nowSeconds = Date.now() / 1000
  const isWellFormed =
    (sid !== undefined || sub !== undefined) &&
    // §2.4: a nonce is forbidden, so an ID token can never pass for a logout token.
    !Object.hasOwn(claims, 'nonce') &&
    exp > iat &&
    exp - iat <= LOGOUT_TOKEN_MAX_LIFETIME_SECONDS &&
    iat <= nowSeconds + CLOCK_TOLERANCE_SECONDS
  if (!isWellFormed) throw new InvalidLogoutTokenError()
  return { sessionId: sid, userId: sub, tokenId: jti, issuedAtSeconds: iat, expiresAtSeconds: exp }
}
