import type { JWT, SignOptions, VerifyOptions } from '@fastify/jwt'
import { type Static, Type } from 'typebox'
import { Compile } from 'typebox/compile'
import { isCanonicalCompactJws } from './canonical-jws.js'
import { InvalidTokenError, MissingTokenError, OversizedTokenError } from './errors.js'
import { type Keyring, readJoseHeader, type SigningAlgorithm } from './keyring.js'

// What an access token holds and every check it must pass, in one place: the bank signs with these rules, both
// services verify with them, and the test forger (shared/src/testing) builds its tokens from the same constants.

/** Every access token is issued by the bank. */
export const TOKEN_ISSUER = 'bank'
/** Both services are in every access token's audience; each checks for its own name. */
export const TOKEN_AUDIENCE = ['bank', 'retirement'] as const
/** A service's name, as it appears in a token's `aud`. */
export type ServiceName = (typeof TOKEN_AUDIENCE)[number]
/** RFC 8725 §3.1 asks for bounded work on untrusted input; a real token is about 400 bytes. */
export const MAX_TOKEN_BYTES = 4096
/** Servers' clocks drift; more than this and the token's times are not believed (docs/spec.md#verification: at most 30 s). */
export const CLOCK_TOLERANCE_SECONDS = 30
/** The claims fast-jwt refuses a token without, before our own schema looks at their types. */
export const REQUIRED_ACCESS_TOKEN_CLAIMS = ['sub', 'sid', 'username', 'iss', 'aud', 'iat', 'exp', 'jti'] as const
// About 0.6 KB each (the token and its claims): a few MB at most, and a token is verified in full only once.
const VERIFIED_TOKENS_CACHED = 10_000

const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'

/** The claims of an access token, as docs/spec.md#access-tokens lists them. */
export const AccessTokenClaims = Type.Object({
  sub: Type.String({ pattern: UUID_PATTERN }),
  username: Type.String({ minLength: 1, maxLength: 64 }),
  sid: Type.String({ minLength: 1, maxLength: 64 }),
  jti: Type.String({ minLength: 1, maxLength: 64 }),
  iss: Type.Literal(TOKEN_ISSUER),
  // RFC 7519 §4.1.3 allows a single string; the bank always sends both names, fast-jwt checks ours is among them.
  aud: Type.Union([Type.String(), Type.Array(Type.String())]),
  iat: Type.Integer(),
  exp: Type.Integer(),
})
export type AccessTokenClaims = Static<typeof AccessTokenClaims>
const accessTokenClaimsValidator = Compile(AccessTokenClaims)

/** Who is signed in, as the rest of the code sees it. */
export interface SignedInUser {
  id: string
  username: string
  sessionId: string
  tokenId: string
  /** Seconds since the epoch, from `iat`. */
  issuedAtSeconds: number
  /** Seconds since the epoch, from `exp`. */
  expiresAtSeconds: number
}

/** How the bank signs an access token: with the current key in its algorithm, named by `kid`, for both services. */
export function accessTokenSignOptions(keyring: Keyring, accessTokenTtlSeconds?: number): Partial<SignOptions> {
  if (!keyring.signingKey) return {}
  return {
    algorithm: keyring.signingKey.algorithm,
    iss: TOKEN_ISSUER,
    aud: [...TOKEN_AUDIENCE],
    kid: keyring.signingKey.kid,
    ...(accessTokenTtlSeconds !== undefined ? { expiresIn: accessTokenTtlSeconds } : {}),
  }
}

/** The checks fast-jwt makes of an access token for `audience`: signature, alg, exp, nbf, iss, aud, the claims present. */
export function accessTokenVerifyOptions(
  audience: ServiceName,
  algorithm: SigningAlgorithm = 'HS256',
): Partial<VerifyOptions> {
  return {
    // The signing key's; a token of another key is verified with that key's own algorithm (verifyUncachedToken).
    algorithms: [algorithm],
    allowedIss: TOKEN_ISSUER,
    allowedAud: audience,
    requiredClaims: [...REQUIRED_ACCESS_TOKEN_CLAIMS],
    clockTolerance: CLOCK_TOLERANCE_SECONDS * 1000,
    // No fast-jwt cache: it hashes every token (SHA-256) to find it, which costs more than our own cache below.
    cache: false,
  }
}

/** `JWT` in any case, with or without the `application/` prefix (RFC 7515 §4.1.9). */
function isAccessTokenTyp(typ: unknown): boolean {
  return typeof typ === 'string' && typ.toLowerCase().replace(/^application\//, '') === 'jwt'
}

/**
 * Tokens that passed every check, by the whole token string (an exact match: no hash to collide), so the next
 * request with the same token skips the base64, JSON, HMAC and claim checks. Only `exp` can turn a verified token
 * invalid later (`iat` and `nbf` only become truer, keys never change while the process runs), so a hit checks
 * `exp` again, with the same tolerance as the first time. Bounded: beyond `maxEntries`, the oldest entry goes.
 */
export function createVerifiedTokenCache(maxEntries = VERIFIED_TOKENS_CACHED) {
  const entries = new Map<string, SignedInUser>()
  return {
    find(token: string): SignedInUser | undefined {
      const user = entries.get(token)
      if (user === undefined) return undefined
      if (Date.now() <= (user.expiresAtSeconds + CLOCK_TOLERANCE_SECONDS) * 1000) return user
      entries.delete(token)
      return undefined
    },
    remember(token: string, user: SignedInUser): SignedInUser {
      // Shared by every request carrying this token: frozen, so no handler can change what the next one sees.
      const frozen = Object.freeze(user)
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string)
      entries.set(token, frozen)
      return frozen
    },
  }
}
/** The verified-token cache one service keeps. */
export type VerifiedTokenCache = ReturnType<typeof createVerifiedTokenCache>

/** What verifying an access token needs besides the token. */
export interface AccessTokenVerification {
  /** Configured with {@link accessTokenVerifyOptions} for this service and the keyring's signing key. */
  jwt: JWT
  keyring: Keyring
  cache: VerifiedTokenCache
  /**
   * Single logout: a verified token whose session has ended is refused like any invalid token. Retirement answers
   * from memory (no I/O); the bank asks its own database, hence the promise.
   */
  isRevoked?: ((user: SignedInUser) => boolean | Promise<boolean>) | undefined
}

/**
 * Every check of docs/spec.md#verification, on a token as it arrived: size, one spelling, then (unless the cache
 * has it) header, key, signature and claims, then revocation. Throws {@link OversizedTokenError} or
 * {@link InvalidTokenError}; never says which check failed.
 */
export async function verifyAccessToken(
  token: string,
  { jwt, keyring, cache, isRevoked }: AccessTokenVerification,
): Promise<SignedInUser> {
  if (token.length > MAX_TOKEN_BYTES) throw new OversizedTokenError()
  // Before the cache, which keys by the string: one token must never count as several.
  if (!isCanonicalCompactJws(token)) throw refusal('malformed')
  const user = cache.find(token) ?? cache.remember(token, await verifyUncachedToken(token, jwt, keyring))
  // Revocation can happen at any moment, so it is checked on every request, cached token or not.
  if (await isRevoked?.(user)) throw Object.assign(refusal('revoked'), { revokedUser: user })
  return user
}

/**
 * Why a token was refused, for metrics and the audit trail only: the client always hears the same 401, since the
 * exact reason helps an attacker more than a user. A short fixed vocabulary, so it can be a metric label.
 */
export type TokenRefusalReason =
  | 'missing'
  | 'oversized'
  | 'malformed'
  | 'wrong_type'
  | 'unknown_key'
  | 'bad_signature'
  | 'expired'
  | 'invalid_claims'
  | 'revoked'

const REFUSAL_REASON = Symbol('token refusal reason')

function refusal(reason: TokenRefusalReason) {
  return Object.assign(new InvalidTokenError(), { [REFUSAL_REASON]: reason })
}

// fast-jwt's error codes, as reasons; any other of its codes (iss, aud, nbf, a missing claim) is `invalid_claims`.
const FAST_JWT_REASONS: Record<string, TokenRefusalReason> = {
  FAST_JWT_EXPIRED: 'expired',
  FAST_JWT_INVALID_SIGNATURE: 'bad_signature',
  FAST_JWT_MISSING_SIGNATURE: 'bad_signature',
  FAST_JWT_INVALID_ALGORITHM: 'bad_signature',
  FAST_JWT_MALFORMED: 'malformed',
  FAST_JWT_INVALID_PAYLOAD: 'malformed',
}

/** The reason behind an error thrown by {@link verifyAccessToken} (or a missing token). */
export function describeTokenRefusal(error: unknown): TokenRefusalReason {
  if (error instanceof MissingTokenError) return 'missing'
  if (error instanceof OversizedTokenError) return 'oversized'
  const own = (error as { [REFUSAL_REASON]?: TokenRefusalReason })[REFUSAL_REASON]
  if (own) return own
  const code = (error as { code?: unknown }).code
  return (typeof code === 'string' && FAST_JWT_REASONS[code]) || 'invalid_claims'
}

/** The user of a token refused because its session ended (verified, so its `sub` and `sid` can be believed). */
export function revokedUserOf(error: unknown): SignedInUser | undefined {
  return (error as { revokedUser?: SignedInUser }).revokedUser
}

/** The full check, for a token not seen (and verified) before. */
async function verifyUncachedToken(token: string, jwt: JWT, keyring: Keyring): Promise<SignedInUser> {
  const header = readJoseHeader(token)
  // RFC 8725 §3.11: a JWT typed as something else (a logout token is logout+jwt) is never an access token.
  // docs/spec.md#access-tokens does not require `typ`, so an untyped token is judged by its claims like any other.
  if (header?.typ !== undefined && !isAccessTokenTyp(header.typ)) throw refusal('wrong_type')
  // RFC 8725 §3.1/§3.2: the key comes from our own keyring by `kid`, never from what else the token says.
  // `jku`, `jwk`, `x5u` and `x5c` are never read: the only key material is what the keyring already holds.
  const kid = header?.kid
  const key =
    keyring.findVerificationKey(kid) ??
    (typeof kid === 'string' && keyring.findUnknownKey ? await keyring.findUnknownKey(kid) : undefined)
  if (!key) throw refusal('unknown_key')
  // The algorithm is the key's, never the header's: an HS256 token "keyed" with a public key's PEM, DER or JWK text
  // names an ES256 kid and stops here (fast-jwt's own allow-list below would refuse it too).
  if (header?.alg !== key.algorithm) throw refusal('bad_signature')
  // A static key lets @fastify/jwt build its fast-jwt verifier once; tokens signed with another key are rare
  // (one access-token lifetime after a rotation) and take the slower path.
  const claims: AccessTokenClaims =
    key.kid === keyring.signingKey?.kid
      ? jwt.verify(token)
      : jwt.verify(token, { key: key.key, algorithms: [key.algorithm] })
  // fast-jwt checks signature, alg, exp, nbf, iss and aud; the claims' types and a future `iat` are ours to check.
  const nowSeconds = Date.now() / 1000
  if (!accessTokenClaimsValidator.Check(claims) || claims.iat > nowSeconds + CLOCK_TOLERANCE_SECONDS) {
    throw refusal('invalid_claims')
  }
  const { sub, username, sid, jti, iat, exp } = claims
  return { id: sub, username, sessionId: sid, tokenId: jti, issuedAtSeconds: iat, expiresAtSeconds: exp }
}
