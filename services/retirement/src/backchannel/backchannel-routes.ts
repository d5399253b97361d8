import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  ErrorResponse,
  FORM_ENCODED_LOGOUT_TOKEN,
  HealthResponse,
  InvalidLogoutTokenError,
  type Keyring,
  type LogoutNotice,
  MAX_TOKEN_BYTES,
  UnsupportedMediaTypeError,
  verifyLogoutToken,
} from '@sso/shared'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { RetirementSecurityEvents } from '../security-events.js'
import type { RevocationList } from './revocation-list.js'

// OpenID Connect Back-Channel Logout 1.0 §2.5: a form-encoded POST whose `logout_token` field is the JWT.
const LogoutRequest = Type.Object({ logout_token: Type.String({ minLength: 1, maxLength: MAX_TOKEN_BYTES }) })

/** Refused before the body is read: JSON, text or a multipart body is not what the bank sends. */
async function requireFormEncoded(request: FastifyRequest) {
  const mediaType = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase()
  if (mediaType !== 'application/x-www-form-urlencoded') throw new UnsupportedMediaTypeError(FORM_ENCODED_LOGOUT_TOKEN)
}

/**
 * The bank's single-logout notices. Server to server and authenticated by the logout token itself: no CSRF token,
 * no access token. 200 once recorded; 400 for an invalid, replayed or wrongly typed token (§2.8).
 */
export const backchannelRoutes: FastifyPluginAsyncTypebox<{
  keyring: Keyring
  revocations: RevocationList
  events: RetirementSecurityEvents
}> = async (app, { keyring, revocations, events }) => {
  app.post(
    '/backchannel/logout',
    {
      onRequest: requireFormEncoded,
      schema: {
        description: 'OpenID Connect Back-Channel Logout 1.0: the bank posts a logout token when a login session ends.',
        consumes: ['application/x-www-form-urlencoded'],
        body: LogoutRequest,
        response: { 200: HealthResponse, 400: ErrorResponse, 415: ErrorResponse },
      },
    },
    async (request) => {
      let notice: LogoutNotice
      try {
        notice = verifyLogoutToken(app.jwt, keyring, 'retirement', request.body.logout_token)
      } catch (error) {
        if (error instanceof InvalidLogoutTokenError) events.noticeRefused(request, 'invalid')
        throw error
      }
      if ((await revocations.record(notice)) === 'replayed') {
        request.log.warn({ jti: notice.tokenId }, 'logout token replayed: refused')
        events.noticeRefused(request, 'replayed')
        throw new InvalidLogoutTokenError()
      }
      events.revocationApplied(request, notice)
      return { status: 'ok' as const }
    },
  )
}
