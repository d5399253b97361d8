import createError from '@fastify/error'

// The one catalogue of coded errors (docs/spec.md#errors). Expected failures carry a stable `code` clients can branch
// on, and a message safe to show anyone. No two entries share a code (errors.test.ts checks), and no code is
// written anywhere else: a throw site, the error handler and the 404 handler all take theirs from here.

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
/** Anything wrong with a logout token: the back-channel endpoint answers 400, as the specification asks. */
export const InvalidLogoutTokenError = createError('SSO_LOGOUT_TOKEN_INVALID', 'The logout token is invalid', 400)
/** A cookie-authenticated write that did not come from one of the two apps. */
export const ForeignOriginError = createError('SSO_CSRF_ORIGIN', 'Cross-site request refused (Origin not allowed)', 403)
/**
 * A body of a type the route does not take: `new UnsupportedMediaTypeError(JSON_BODY)` under /api,
 * `new UnsupportedMediaTypeError(FORM_ENCODED_LOGOUT_TOKEN)` at the back-channel endpoint.
 */
export const UnsupportedMediaTypeError = createError('SSO_UNSUPPORTED_MEDIA_TYPE', 'Send the %s', 415)
/** What the API takes under /api. */
export const JSON_BODY = 'request body as application/json'
/** What the back-channel logout endpoint takes (OpenID Connect Back-Channel Logout 1.0 §2.5). */
export const FORM_ENCODED_LOGOUT_TOKEN = 'logout token as application/x-www-form-urlencoded'
/** A body, query or params the route's schema refuses; the message says which part, naming only known paths. */
export const InvalidInputError = createError('SSO_INVALID_INPUT', 'Invalid request: %s', 400)
/** Nothing at this path, or a resource the caller may not know exists; the message never echoes the path. */
export const NotFoundError = createError('SSO_NOT_FOUND', '%s', 404)
/** A unique value (the username) already belongs to someone. */
export const ConflictError = createError('SSO_CONFLICT', '%s', 409)
/** Too many attempts; the reply carries Retry-After. */
export const TooManyAttemptsError = createError('SSO_RATE_LIMITED', 'Too many attempts; try again in %s seconds', 429)
/** Any fault of ours: the client learns nothing more than this; the details go to the log with the request id. */
/** The codes of a refused access token: ours, @fastify/jwt's and fast-jwt's. Answered 401, counted as refusals. */
export const TOKEN_ERROR_CODE = /^(FST_JWT_|FAST_JWT_|SSO_TOKEN_)/

export const InternalError = createError('SSO_INTERNAL', 'Something went wrong on our side; try again later', 500)
/** More expensive work (password hashing) is queued than the server can do soon; the reply carries Retry-After. */
export const ServerBusyError = createError('SSO_BUSY', 'The server is busy; try again in a moment', 503)
/**
 * `GET /readyz` when this replica should not be sent requests now (its database does not answer, or, at retirement,
 * its revocation list is not current); the message says which, in words safe for anyone to read.
 */
export const NotReadyError = createError('SSO_NOT_READY', 'Not ready: %s', 503)

/** A config value the operator must fix; the message names the variable and never echoes a secret. */
export class ConfigError extends Error {
  /** Never sent to a client: a bad config stops the process before it listens (docs/spec.md#configuration). */
  readonly code = 'SSO_CONFIG_INVALID'
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`)
    this.name = 'ConfigError'
  }
}

/** Attaches the `Retry-After` the error handler sends with a 429 or 503. */
export function withRetryAfter<E extends Error>(
  error: E,
  retryAfterSeconds: number,
): E & { retryAfterSeconds: number } {
  return Object.assign(error, { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterSeconds)) })
}
