import createError from '@fastify/error'

// Expected failures carry a stable `code` clients can branch on, and a message safe to show anyone.

/** Unknown user and wrong password alike, so the answer never reveals which accounts exist. */
export const InvalidCredentialsError = createError('SSO_INVALID_CREDENTIALS', 'Invalid username/password', 401)
/** No access token in the Authorization header or the access_token cookie. */
export const MissingTokenError = createError('SSO_TOKEN_MISSING', 'Sign in first: no access token was sent', 401)
/** A token that failed any check; which check is logged at debug level, never told to the client. */
export const InvalidTokenError = createError('SSO_TOKEN_INVALID', 'The access token is invalid or expired', 401)
/** Refused before parsing, so a huge token costs nothing to reject. */
export const OversizedTokenError = createError('SSO_TOKEN_TOO_LARGE', 'The access token is too large', 401)
/** Refresh token missing, unknown, expired, revoked or reused. */
export const InvalidRefreshTokenError = createError(
  'SSO_REFRESH_INVALID',
  'The login session has ended; sign in again',
  401,
)
/** A cookie-authenticated write that did not come from one of the two apps. */
export const ForeignOriginError = createError('SSO_CSRF_ORIGIN', 'Cross-site request refused (Origin not allowed)', 403)
/** Only JSON is accepted under /api. */
export const UnsupportedMediaTypeError = createError(
  'SSO_UNSUPPORTED_MEDIA_TYPE',
  'Send the request body as application/json',
  415,
)
/** A unique value (the username) already belongs to someone. */
export const ConflictError = createError('SSO_CONFLICT', '%s', 409)
/** Too many attempts; the reply carries Retry-After. */
export const TooManyAttemptsError = createError('SSO_RATE_LIMITED', 'Too many attempts; try again in %s seconds', 429)
/** More expensive work (password hashing) is queued than the server can do soon; the reply carries Retry-After. */
export const ServerBusyError = createError('SSO_BUSY', 'The server is busy; try again in a moment', 503)

/** Attaches the `Retry-After` the error handler sends with a 429 or 503. */
export function withRetryAfter<E extends Error>(
  error: E,
  retryAfterSeconds: number,
): E & { retryAfterSeconds: number } {
  return Object.assign(error, { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterSeconds)) })
}
