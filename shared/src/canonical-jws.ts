// A compact JWS has exactly one spelling of its bytes. base64url leaves 2 or 4 bits of a segment's last character
// unused (RFC 4648 §3.5: zero); fast-jwt decodes with Node's lenient decoder and compares decoded bytes, so
// without this check each token is accepted in up to 4 × 16 × 16 spellings, and the verified-token cache and the
// logout `jti` replay store, which key by the token string, would take one token for several.

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const BASE64URL_CHARACTERS = /^[A-Za-z0-9_-]*$/

/** True when `segment` is the one base64url spelling of its bytes: no padding, no other alphabet, spare bits 0. */
export function isCanonicalBase64Url(segment: string): boolean {
  if (!BASE64URL_CHARACTERS.test(segment)) return false
  const remainder = segment.length % 4
  if (remainder === 0) return true
  if (remainder === 1) return false // 6 bits cannot end a byte
  const lastValue = BASE64URL_ALPHABET.indexOf(segment.charAt(segment.length - 1))
  const spareBitsMask = remainder === 2 ? 0b1111 : 0b11
  return (lastValue & spareBitsMask) === 0
}

/** True for three dot-separated segments, each canonical base64url (the signature may be empty; fast-jwt decides). */
export function isCanonicalCompactJws(token: string): boolean {
  const segments = token.split('.')
  return segments.length === 3 && segments.every(isCanonicalBase64Url)
}
