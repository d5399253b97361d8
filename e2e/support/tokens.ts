import { createHmac } from 'node:crypto'

/** The header and claims of a compact JWT, decoded without any check: for building forgeries, never for trust. */
export function decodeToken(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [header = '', claims = ''] = token.split('.')
  const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  return { header: decode(header), claims: decode(claims) }
}

/** Signs a header and claims with HS256 under any secret: a token only the right key should make valid. */
export function signHs256(header: Record<string, unknown>, claims: Record<string, unknown>, secret: string): string {
  const encode = (part: unknown) => Buffer.from(JSON.stringify(part)).toString('base64url')
  const signingInput = `${encode(header)}.${encode(claims)}`
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`
}
