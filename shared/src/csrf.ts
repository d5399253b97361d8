import type { FastifyRequest } from 'fastify'
import { ForeignOriginError, JSON_BODY, UnsupportedMediaTypeError } from './errors.js'

const STATE_CHANGING_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * Every `/api` route, the JSON half of each service. Decided by the route the request was matched to, never by the
 * raw URL: the router decodes percent-escapes, so `/%61pi/login` reaches `/api/login` and must meet the same rules.
 */
function isApiRequest(request: FastifyRequest): boolean {
  const path = request.routeOptions.url ?? request.url.split('?')[0] ?? ''
  return path === '/api' || path.startsWith('/api/')
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length']
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined
}

function isJson(contentType: string): boolean {
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase()
  return mediaType === 'application/json'
}

/**
 * The CSRF rule of docs/spec.md#csrf for JSON APIs, as an `onRequest` hook on `/api`:
 * - a request that declares a body type, or sends a body, must be `application/json` (415 otherwise). A browser
 *   cannot send that type cross-site without a CORS preflight, which neither service answers, so a forged
 *   `<form>` or `text/plain` fetch never reaches a handler, even with an empty body;
 * - a state-changing request not authenticated by a Bearer header must not carry a foreign `Origin` (403):
 *   defence in depth behind SameSite=Lax, and the only guard for body-less requests such as DELETE.
 */
export function createApiRequestGuard(allowedOrigins: readonly string[]) {
  const allowed = new Set(allowedOrigins.map((url) => new URL(url).origin))
  return async function guardApiRequest(request: FastifyRequest) {
    if (!isApiRequest(request)) return
    const contentType = request.headers['content-type']
    if (contentType !== undefined ? !isJson(contentType) : hasBody(request))
      throw new UnsupportedMediaTypeError(JSON_BODY)
    if (!STATE_CHANGING_METHODS.has(request.method)) return
    if (/^bearer /i.test(request.headers.authorization ?? '')) return
    const origin = request.headers.origin
    if (origin !== undefined && !allowed.has(origin)) throw new ForeignOriginError()
  }
}
