import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import {
  InternalError,
  InvalidInputError,
  InvalidTokenError,
  MissingTokenError,
  NotFoundError,
  TOKEN_ERROR_CODE,
} from './errors.js'

// Fastify's own client errors, phrased for the person who sent the request.
const CLIENT_ERROR_SENTENCES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Send the request body as application/json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'The request body is too large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'The JSON body is empty',
  FST_ERR_CTP_INVALID_JSON_BODY: 'The body is not valid JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'The Content-Length header does not match the body',
  // Fastify's own message quotes the URL, which may hold a token.
  FST_ERR_BAD_URL: 'The URL is malformed',
  FST_CSRF_MISSING_SECRET: 'The form has expired; reload the page and try again',
  FST_CSRF_INVALID_TOKEN: 'The form has expired; reload the page and try again',
}

/**
 * The one error handler both services install: the `{status, error, code}` shape of docs/spec.md#errors, 4xx errors say what
 * was wrong, 5xx errors say nothing internal (the details go to the log with the request id), and failures of an
 * access token carry `WWW-Authenticate: Bearer` (RFC 6750).
 */
export function replyWithoutInternals(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const isTokenError = TOKEN_ERROR_CODE.test(error.code ?? '')
  let statusCode = isTokenError ? 401 : (error.statusCode ?? 500)
  if (statusCode < 400 || statusCode > 599) statusCode = 500

  const retryAfterSeconds = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds
  if (typeof retryAfterSeconds === 'number') reply.header('retry-after', String(retryAfterSeconds))
  // An overload answer of ours (503 SSO_BUSY) is expected, not a fault: its message is safe and it needs no alarm.
  const isExpectedOverload = statusCode === 503 && error.code?.startsWith('SSO_')

  if (statusCode >= 500 && !isExpectedOverload) {
    request.log.error({ err: error }, 'request failed')
    const fault = new InternalError()
    return reply.code(statusCode).send({ status: 'error', error: fault.message, code: fault.code })
  }

  if (isTokenError) {
    // The exact reason (expired, bad signature, unknown kid) helps an attacker more than a user; the auth plugin's
    // `token.refused` audit line and metric carry it, and the library's own words are here at debug.
    request.log.debug({ reason: error.code, detail: error.message }, 'access token refused')
    const missing = error instanceof MissingTokenError || error.code?.startsWith('FST_JWT_NO_AUTHORIZATION')
    reply.header('www-authenticate', missing ? 'Bearer' : 'Bearer error="invalid_token"')
    const refusal = missing ? new MissingTokenError() : new InvalidTokenError()
    return reply.code(401).send({ status: 'error', error: refusal.message, code: refusal.code })
  }

  if (error.validation) {
    const invalid = new InvalidInputError(describeValidationErrors(error, request))
    return reply.code(statusCode).send({ status: 'error', error: invalid.message, code: invalid.code })
  }
  const message = CLIENT_ERROR_SENTENCES[error.code] ?? error.message
  return reply.code(statusCode).send({ status: 'error', error: message, code: error.code })
}

interface SchemaNode {
  type?: unknown
  properties?: Record<string, SchemaNode>
  items?: SchemaNode
  anyOf?: SchemaNode[]
}

/** The schema below `segment` of `schema`, or undefined when the schema does not know it (the client made it up). */
function childSchema(schema: SchemaNode, segment: string): SchemaNode | undefined {
  if (schema.properties && Object.hasOwn(schema.properties, segment)) return schema.properties[segment]
  if (schema.type === 'array' && schema.items && /^\d+$/.test(segment)) return schema.items
  for (const branch of schema.anyOf ?? []) {
    const child = childSchema(branch, segment)
    if (child) return child
  }
  return undefined
}

/**
 * The validation errors in a sentence. Fastify's message (`body/cents must be integer`, or a route's own
 * `schemaErrorFormatter` sentence) names the path of each error, and that path may be a property the client
 * invented (`<img src=x onerror=...>`). So the message is kept only when every path is one the route's schema knows;
 * otherwise it is rebuilt, naming each path only as far as the schema knows it, and an invented property's error
 * becomes "must not have additional properties" on the object that holds it.
 */
function describeValidationErrors(error: FastifyError, request: FastifyRequest): string {
  const context = error.validationContext ?? 'request'
  const routeSchemas = (request.routeOptions.schema ?? {}) as Record<string, SchemaNode | undefined>
  let namesOnlyKnownPaths = true
  const sentences = (error.validation ?? []).map(({ instancePath, message }) => {
    let schema = routeSchemas[context]
    let knownPath = ''
    for (const encoded of instancePath.split('/').slice(1)) {
      const segment = encoded.replace(/~1/g, '/').replace(/~0/g, '~')
      schema = schema && childSchema(schema, segment)
      if (!schema) {
        namesOnlyKnownPaths = false
        return `${context}${knownPath} must not have additional properties`
      }
      knownPath += `/${encoded}`
    }
    return `${context}${knownPath} ${message ?? 'is invalid'}`
  })
  return namesOnlyKnownPaths ? error.message : [...new Set(sentences)].join(', ')
}

/** 404 in the same shape as every other error. The path is not echoed: a client may have put a token in it. */
export function replyNotFound(request: FastifyRequest, reply: FastifyReply) {
  const notFound = new NotFoundError(`Nothing here for ${request.method}: check the path`)
  return reply.code(404).send({ status: 'error', error: notFound.message, code: notFound.code })
}
