/// <reference types="@fastify/jwt" preserve="true" />
/// <reference types="@fastify/cookie" preserve="true" />
import { randomUUID } from 'node:crypto'
import fastifyCookie from '@fastify/cookie'
import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import {
  type AccessTokenClaims,
  accessTokenSignOptions,
  accessTokenVerifyOptions,
  createVerifiedTokenCache,
  describeTokenRefusal,
  revokedUserOf,
  type ServiceName,
  type SignedInUser,
  verifyAccessToken,
} from './access-token.js'
import {
  ACCESS_TOKEN_COOKIE,
  accessTokenCookieOptions,
  type CookiePolicy,
  refreshTokenCookieName,
  refreshTokenCookieOptions,
} from './cookies.js'
import { MissingTokenError, TOKEN_ERROR_CODE } from './errors.js'
import type { Keyring } from './keyring.js'
import { observability } from './observability.js'

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
    /**
     * Signs an access token for this login session and sets the `access_token` cookie; bank only. The token and its
     * cookie never outlive the session: both end at `sessionEndsAtMs` when that comes before the usual lifetime.
     */
    issueAccessToken: (
      user: { id: string; username: string },
      session: { id: string; expiresAtMs: number },
    ) => Promise<string>
    /** Sets the refresh cookie (`__Host-refresh_token` when Secure), host-only; bank only. */
    setRefreshTokenCookie: (refreshToken: string, maxAgeSeconds: number) => FastifyReply
    /** Removes both login cookies with the same attributes they were set with, or the browser keeps them. */
    clearLoginCookies: () => FastifyReply
  }
}

/** @fastify/jwt needs a key; where there is no static one, the token's own `kid` must pick one, always. */
function refuseWithoutKey(): never {
  throw new Error('no static key: every verification names the key its kid selects')
}

/**
 * A refusal of the token itself (ours, @fastify/jwt's or fast-jwt's), as opposed to a fault on the way (the database
 * behind `isRevoked`); the same codes the error handler answers with 401.
 */
function isTokenError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && TOKEN_ERROR_CODE.test(code)
}

/** Bearer first, then the cookie: an API client's explicit token wins over whatever the browser holds. */
function extractAccessToken(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization
  if (authorization !== undefined && /^bearer /i.test(authorization)) return authorization.slice(7).trim()
  return request.cookies[ACCESS_TOKEN_COOKIE] || undefined
}

async function authPlugin(app: FastifyInstance, options: AuthPluginOptions) {
  const { keyring, audience, cookies, issuing, isRevoked } = options
  if (!app.hasDecorator('metrics')) await app.register(observability, { serviceName: audience })
  await app.register(fastifyCookie)
  const { signingKey } = keyring
  await app.register(fastifyJwt, {
    // Without a signing key (retirement in a key-pair mode) every check names its key, found by kid; this one is
    // never used for a token, and signs nothing.
    secret: !signingKey
      ? refuseWithoutKey
      : signingKey.algorithm === 'HS256'
        ? signingKey.key
        : { private: signingKey.key, public: signingKey.verificationKey },
    sign: accessTokenSignOptions(keyring, issuing?.accessTokenTtlSeconds),
    verify: accessTokenVerifyOptions(audience, signingKey?.algorithm),
  })
  const verification = { jwt: app.jwt, keyring, cache: createVerifiedTokenCache(), isRevoked }
  const refreshCookieName = refreshTokenCookieName(cookies)

  async function verifyRequestToken(request: FastifyRequest): Promise<SignedInUser> {
    const token = extractAccessToken(request)
    if (!token) throw new MissingTokenError()
    try {
      const user = await verifyAccessToken(token, verification)
      request.user = user
      return user
    } catch (error) {
      // A database that does not answer (the bank's revocation check) is an outage, not a forged token: it fails the
      // request with a 5xx and is neither counted nor audited as a refusal.
      if (!isTokenError(error)) throw error
      // Counted and audited here, where the reason is known; the client hears only SSO_TOKEN_INVALID.
      const reason = describeTokenRefusal(error)
      app.metrics.tokensRefused.inc({ token: 'access', reason })
      const revoked = revokedUserOf(error)
      request.audit('token.refused', { reason, sub: revoked?.id, sid: revoked?.sessionId })
      throw error
    }
  }

  app.decorate('requireSession', async (request: FastifyRequest) => {
    try {
      await verifyRequestToken(request)
    } catch (error) {
      // No token at all is a refusal where one is required (counted), but no token was refused (no audit line).
      if (error instanceof MissingTokenError) app.metrics.tokensRefused.inc({ token: 'access', reason: 'missing' })
      throw error
    }
  })
  app.decorate('findSignedInUser', async (request: FastifyRequest) => {
    try {
      return await verifyRequestToken(request)
    } catch (error) {
      // Only a missing or refused token means "not signed in". Anything else must fail the request: a logout that
      // took a database error for "no session" would answer 204 and revoke nothing.
      if (isTokenError(error)) return null
      throw error
    }
  })

  if (issuing) {
    const accessCookie = accessTokenCookieOptions(cookies, issuing.accessTokenTtlSeconds)
    app.decorateReply('issueAccessToken', async function (this: FastifyReply, user, session) {
      const sessionLeftSeconds = Math.floor((session.expiresAtMs - Date.now()) / 1000)
      const claims = { sub: user.id, username: user.username, sid: session.id }
      if (sessionLeftSeconds >= issuing.accessTokenTtlSeconds) {
        const token = await this.jwtSign(claims, { jti: randomUUID() })
        this.setCookie(ACCESS_TOKEN_COOKIE, token, accessCookie)
        return token
      }
      // The session's last minutes: a shorter token (a signer of its own, rare enough not to matter).
      const expiresInSeconds = Math.max(1, sessionLeftSeconds)
      const token = await this.jwtSign(claims, { jti: randomUUID(), expiresIn: expiresInSeconds })
      this.setCookie(ACCESS_TOKEN_COOKIE, token, accessTokenCookieOptions(cookies, expiresInSeconds))
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

/**
 * Cookies, @fastify/jwt pinned to the token rules of access-token.ts, and the signed-in hook; shared by both services.
 * Every refused token is counted and audited through `observability`, registered here if the app has not yet.
 */
export const ssoAuth = fp(authPlugin, { name: 'sso-auth', fastify: '5.x' })
