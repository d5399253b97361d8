import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorResponse, NotFoundError, type PublicJwk } from '@sso/shared'
import { Type } from 'typebox'

/**
 * Verifiers (retirement, any service in any language) may cache the keys this long. Rotation waits at least this
 * long between publishing the next key and signing with it, so every verifier has it before the first token.
 */
export const JWKS_MAX_AGE_SECONDS = 300

const Jwk = Type.Object({
  kty: Type.Union([Type.Literal('EC'), Type.Literal('OKP')]),
  crv: Type.Union([Type.Literal('P-256'), Type.Literal('Ed25519')]),
  x: Type.String(),
  y: Type.Optional(Type.String()),
  kid: Type.String({ description: 'RFC 7638 thumbprint of the key' }),
  alg: Type.Union([Type.Literal('ES256'), Type.Literal('EdDSA')]),
  use: Type.Literal('sig'),
})
const Jwks = Type.Object({ keys: Type.Array(Jwk) }, { description: 'the signing key first, then the published ones' })

/**
 * `GET /.well-known/jwks.json` (RFC 7517): the public keys tokens are verified with, in a key-pair mode. In HS256 mode
 * a 404: a symmetric key is never published. Only public members are listed; the response schema would drop any other.
 */
export const jwksRoutes: FastifyPluginAsyncTypebox<{ publicJwks: readonly PublicJwk[] | undefined }> = async (
  app,
  { publicJwks },
) => {
  const published = publicJwks ? { keys: [...publicJwks] } : undefined
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        summary: "The bank's public signing keys (ES256/EdDSA modes)",
        response: { 200: Jwks, 404: ErrorResponse },
      },
    },
    async (_request, reply) => {
      if (!published) throw new NotFoundError('No keys are published: tokens are signed with a shared secret (HS256)')
      reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`)
      return published
    },
  )
}
