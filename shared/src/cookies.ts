import type { CookieSerializeOptions } from '@fastify/cookie'

/** Cookie names of docs/spec.md#cookies; both services read `access_token`, only the bank reads `refresh_token`. */
export const ACCESS_TOKEN_COOKIE = 'access_token'
export const REFRESH_TOKEN_COOKIE = 'refresh_token'
/**
 * The refresh cookie's name when cookies are Secure. Browsers accept a `__Host-` cookie only if it is Secure, has
 * `Path=/` and no `Domain`, so a sibling subdomain (which may set `Domain=example.com` cookies) can never plant one.
 */
export const SECURE_REFRESH_TOKEN_COOKIE = `__Host-${REFRESH_TOKEN_COOKIE}`

/** What the deployment says about cookies: `COOKIE_SECURE` and `COOKIE_DOMAIN`. */
export interface CookiePolicy {
  secure: boolean
  domain?: string | undefined
}

/**
 * The access token is shared across the two apps: on localhost cookies ignore ports, and on sibling subdomains
 * `COOKIE_DOMAIN` widens it to the parent domain. Lax still sends it on the top-level link from bank to retirement.
 */
export function accessTokenCookieOptions(policy: CookiePolicy, maxAgeSeconds: number): CookieSerializeOptions {
  return {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    secure: policy.secure,
    maxAge: maxAgeSeconds,
    ...(policy.domain ? { domain: policy.domain } : {}),
  }
}

/** The refresh cookie's name under this policy: `__Host-refresh_token` whenever cookies are Secure. */
export function refreshTokenCookieName(policy: CookiePolicy): string {
  return policy.secure ? SECURE_REFRESH_TOKEN_COOKIE : REFRESH_TOKEN_COOKIE
}

/** The refresh token never leaves the bank's host: no `Domain`, so retirement never receives it. */
export function refreshTokenCookieOptions(policy: CookiePolicy, maxAgeSeconds: number): CookieSerializeOptions {
  return { httpOnly: true, sameSite: 'lax', path: '/', secure: policy.secure, maxAge: maxAgeSeconds }
}
