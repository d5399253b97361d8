import { createHmac } from 'node:crypto'

// Builds JWTs by hand, so tests can produce exactly the malformed or malicious token under test (alg none,
// HS512, a foreign kid...) rather than only what a well-behaved library would sign. Test code only.

const HMAC_BY_ALG: Record<string, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }

export function base64url(value: string | Buffer | object): string {
  const bytes = typeof value === 'string' || Buffer.isBuffer(value) ? value : JSON.stringify(value)
  return Buffer.from(bytes).toString('base64url')
}

/** Signs `header.payload` with HMAC when the header's alg is an HS algorithm; any other alg gets no signature. */
export function forgeToken(header: object, payload: unknown, secret: string | Buffer): string {
  const signingInput = `${base64url(header)}.${base64url(payload as object)}`
  const hash = HMAC_BY_ALG[(header as { alg?: string }).alg ?? '']
  const signature = hash ? createHmac(hash, secret).update(signingInput).digest('base64url') : ''
  return `${signingInput}.${signature}`
}

/** Claims of a token the bank would issue right now, for tests to alter one at a time. */
export function validClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return {
    sub: '0b7e3f0e-6a53-4d4b-9c57-2f1c7d1b9a10',
    username: 'alice',
    sid: 'session-1',
    jti: 'token-1',
    iss: 'bank',
    aud: ['bank', 'retirement'],
    iat: now,
    exp: now + 900,
    ...overrides,
  }
}

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/**
 * Every other spelling of a token that decodes to the same bytes: the last character of a segment carries 2 or 4
 * bits that encode nothing (RFC 4648 §3.5 says they are zero), and a lenient decoder ignores them. One token per
 * respelling, for each segment whose length leaves spare bits.
 */
export function respellings(token: string): string[] {
  const segments = token.split('.')
  return segments.flatMap((segment, index) => {
    const spareBits = segment.length % 4 === 2 ? 4 : segment.length % 4 === 3 ? 2 : 0
    const last = BASE64URL_ALPHABET.indexOf(segment.at(-1) ?? '')
    return Array.from({ length: 2 ** spareBits - 1 }, (_, step) => {
      const respelled = [...segments]
      respelled[index] = segment.slice(0, -1) + BASE64URL_ALPHABET[last + step + 1]
      return respelled.join('.')
    })
  })
}

/** A header and claims padded (by a `pad` member of each) so that each of the token's three segments has spare bits. */
export function forgeTokenWithSpareBits(header: object, payload: object, secret: string | Buffer): string {
  for (let headerPad = 0; headerPad < 3; headerPad++) {
    for (let payloadPad = 0; payloadPad < 3; payloadPad++) {
      const token = forgeToken(
        { ...header, ...(headerPad > 0 ? { pad: 'x'.repeat(headerPad) } : {}) },
        { ...payload, ...(payloadPad > 0 ? { pad: 'x'.repeat(payloadPad) } : {}) },
        secret,
      )
      if (token.split('.').every((segment) => segment.length % 4 !== 0)) return token
    }
  }
  throw new Error('no padding gives every segment spare bits')
}
