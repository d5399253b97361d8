/// <reference types="@fastify/jwt" preserve="true" />
/// <reference types="@fastify/cookie" preserve="true" />
import { randomUUID } from 'node:crypto'
import fastifyCookie from '@fastify/cookie'
import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { type Static, Type } from 'typebox'
import { Compile } from 'typebox/compile'
import { isCanonicalCompactJws } from './canonical-jws.js'
import {
  ACCESS_TOKEN_COOKIE,
  accessTokenCookieOptions,
  type CookiePolicy,
  refreshTokenCookieName,
  refreshTokenCookieOptions,
} from './cookies.js'
import { InvalidTokenError, MissingTokenError, OversizedTokenError } from './errors.js'
import { type Keyring, readJoseHeader } from './keyring.js'

/** Every access token is issued by the bank. */
export const TOKEN_ISSUER = 'bank'
/** Both services are in every access token's audience; each checks for its own name. */
export const TOKEN_AUDIENCE = ['bank', 'retirement'] as const
export type ServiceName = (typeof TOKEN_AUDIENCE)[number]
/** RFC 8725 §3.1 asks for bounded work on untrusted input; a real token is about 400 bytes. */
export const MAX_TOKEN_BYTES = 4096
/** Servers' clocks drift; more than this and the token's times are not believed (contract: at most 30 s). */
export const CLOCK_TOLERANCE_SECONDS = 30
// About 0.6 KB each (the token and its claims): a few MB at most, and a token is verified in full only once.
const VERIFIED_TOKENS_CACHED = 10_000

const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'

/** The claims of an access token, as the contract lists them. */
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
  issuedAt: number
  /** Seconds since the epoch, from `exp`. */
  expiresAt: number
}

export interface AuthPluginOptions {
  keyring: Keyring
  /** This service's own name; tokens whose `aud` lacks it are refused. */
  audience: ServiceName
  cookies: CookiePolicy
  /** Only the bank issues tokens; giving the lifetimes enables `reply.issueAccessToken`. */
  issuing?: { accessTokenTtlSeconds: number }
  /**
   * Single logout: a verified token whose session has ended is refused like any invalid token. Called on every
   * authenticated request: retirement answers from memory (no I/O); the bank asks its own database.
   */
  isRevoked?: (user: SignedInUser) => boolean | Promise<boolean>
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: Omit<AccessTokenClaims, 'iss' | 'aud' | 'iat' | 'exp' | 'jti'>
    user: SignedInUser
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** An `onRequest` hook: every route of the scope it is added to needs a valid access token. */
    requireSession: (request: FastifyRequest) => Promise<void>
    /** The signed-in user, or null when there is no valid access token (pages decide where to send them). */
    findSignedInUser: (request: FastifyRequest) => Promise<SignedInUser | null>
  }
  interface FastifyRequest {
    /**
     * The refresh token the browser sent, under the cookie name the policy uses (`__Host-refresh_token` when
     * Secure); a cookie of the other name is never read. Bank only.
     */
    readRefreshTokenCookie: () => string | undefined
  }
  interface FastifyReply {
    /** Signs an access token for this login session and sets the `access_token` cookie; bank only. */
    issueAccessToken: (user: { id: string; username: string }, sessionId: string) => Promise<string>
    /** Sets the refresh cookie (`__Host-refresh_token` when Secure), host-only; bank only. */
    setRefreshTokenCookie: (refreshToken: string, maxAgeSeconds: number) => FastifyReply
    /** Removes both login cookies with the same attributes they were set with, or the browser keeps them. */
    clearLoginCookies: () => FastifyReply
  }
}

/** Bearer first, then the cookie: an API client's explicit token wins over whatever the browser holds. */
function extractAccessToken(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization
  if (authorization !== undefined && /^bearer /i.test(authorization)) return authorization.slice(7).trim()
  return request.cookies[ACCESS_TOKEN_COOKIE] || undefined
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
function createVerifiedTokenCache(maxEntries: number) {
  const entries = new Map<string, SignedInUser>()
  return {
    find(token: string): SignedInUser | undefined {
      const user = entries.get(token)
      if (user === undefined) return undefined
      if (Date.now() <= (user.expiresAt + CLOCK_TOLERANCE_SECONDS) * 1000) return user
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

async function authPlugin(app: FastifyInstance, options: AuthPluginOptions) {
  const { keyring, audience, cookies, issuing, isRevoked } = options
  await app.register(fastifyCookie)
  await app.register(fastifyJwt, {
    // A static key lets @fastify/jwt build its fast-jwt verifier once; tokens signed with a previous key are
    // rare (they only live for one access-token lifetime after a rotation) and take the slower path below.
    secret: keyring.signingKey.secret,
    sign: {
      algorithm: 'HS256',
      iss: TOKEN_ISSUER,
      aud: [...TOKEN_AUDIENCE],
      kid: keyring.signingKey.kid,
      ...(issuing ? { expiresIn: issuing.accessTokenTtlSeconds } : {}),
    },
    verify: {
      algorithms: ['HS256'],
      allowedIss: TOKEN_ISSUER,
      allowedAud: audience,
      requiredClaims: ['sub', 'sid', 'username', 'iss', 'aud', 'iat', 'exp', 'jti'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS * 1000,
      // No fast-jwt cache: it hashes every token (SHA-256) to find it, which costs more than our own cache below.
      cache: false,
    },
  })
  const verifiedTokens = createVerifiedTokenCache(VERIFIED_TOKENS_CACHED)
  const refreshCookieName = refreshTokenCookieName(cookies)

  async function verifyAccessToken(request: FastifyRequest): Promise<SignedInUser> {
    const token = extractAccessToken(request)
    if (!token) throw new MissingTokenError()
    if (token.length > MAX_TOKEN_BYTES) throw new OversizedTokenError()
    // Before the cache, which keys by the string: one token must never count as several.
    if (!isCanonicalCompactJws(token)) throw new InvalidTokenError()
    const user = verifiedTokens.find(token) ?? verifiedTokens.remember(token, verifyToken(token))
    // Revocation can happen at any moment, so it is checked on every request, cached token or not.
    if (await isRevoked?.(user)) throw new InvalidTokenError()
    request.user = user
    return user
  }

  /** Every check of the contract, for a token not seen (and verified) before. */
  function verifyToken(token: string): SignedInUser {
    const header = readJoseHeader(token)
    // RFC 8725 §3.11: a JWT typed as something else (a logout token is logout+jwt) is never an access token. The
    // contract does not require `typ`, so an untyped token is judged by its claims like any other.
    if (header?.typ !== undefined && !isAccessTokenTyp(header.typ)) throw new InvalidTokenError()
    // RFC 8725 §3.1/§3.2: the key comes from our own keyring by `kid`, never from what else the token says.
    const key = keyring.findVerificationKey(header?.kid)
    if (!key) throw new InvalidTokenError()
    const claims: AccessTokenClaims =
      key === keyring.signingKey ? app.jwt.verify(token) : app.jwt.verify(token, { key: key.secret })
    // fast-jwt checks signature, alg, exp, nbf, iss and aud; the claims' types and a future `iat` are ours to check.
    const nowSeconds = Date.now() / 1000
    if (!accessTokenClaimsValidator.Check(claims) || claims.iat > nowSeconds + CLOCK_TOLERANCE_SECONDS) {
      throw new InvalidTokenError()
    }
    const { sub, username, sid, jti, iat, exp } = claims
    return { id: sub, username, sessionId: sid, tokenId: jti, issuedAt: iat, expiresAt: exp }
  }

  app.decorate('requireSession', async (request: FastifyRequest) => {
    await verifyAccessToken(request)
  })
  app.decorate('findSignedInUser', async (request: FastifyRequest) => {
    try {
      return await verifyAccessToken(request)
    } catch {
      return null
    }
  })

  if (issuing) {
    const accessCookie = accessTokenCookieOptions(cookies, issuing.accessTokenTtlSeconds)
    app.decorateReply('issueAccessToken', async function (this: FastifyReply, user, sessionId) {
      const token = await this.jwtSign({ sub: user.id, username: user.username, sid: sessionId }, { jti: randomUUID() })
      this.setCookie(ACCESS_TOKEN_COOKIE, token, accessCookie)
      return token
    })
    app.decorateReply('setRefreshTokenCookie', function (this: FastifyReply, refreshToken: string, maxAgeSeconds) {
      return this.setCookie(refreshCookieName, refreshToken, refreshTokenCookieOptions(cookies, maxAgeSeconds))
    })
    app.decorateRequest('readRefreshTokenCookie', function (this: FastifyRequest) {
      return this.cookies[refreshCookieName] || undefined
    })
  }
  app.decorateReply('clearLoginCookies', function (this: FastifyReply) {
    const { maxAge: _a, ...access } = accessTokenCookieOptions(cookies, 0)
    const { maxAge: _r, ...refresh } = refreshTokenCookieOptions(cookies, 0)
    this.clearCookie(ACCESS_TOKEN_COOKIE, access)
    if (issuing) this.clearCookie(refreshCookieName, refresh)
    return this
  })
}

/** Cookies, @fastify/jwt pinned to the contract's token rules, and the signed-in hook; shared by both services. */
export const ssoAuth = fp(authPlugin, { name: 'sso-auth', fastify: '5.x' })
