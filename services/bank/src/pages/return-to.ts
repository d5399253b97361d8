/** Where to go after login when `return_to` is absent or not allowed. */
export const DEFAULT_RETURN_TO = '/'
// Browsers send a few hundred characters at most; a huge value is not a real page.
const MAX_RETURN_TO_LENGTH = 2048
// C0 controls, DEL and backslashes: browsers strip or reinterpret them (`/\evil.example` is `//evil.example`
// to a browser), so a value containing any of them is refused rather than cleaned up.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const SUSPICIOUS_CHARACTERS = /[\u0000-\u001f\u007f\\]/

/**
 * The page to send the browser to after login: a path on the bank (one leading '/', not '//'), or an absolute URL
 * on exactly the bank's or retirement's public origin. Anything else (another host, a scheme-relative '//host',
 * `javascript:`, a look-alike origin) falls back to '/', so the login page can never be used as an open redirect.
 */
export function resolveReturnTo(value: unknown, publicUrls: { bank: string; retirement: string }): string {
  if (typeof value !== 'string' || value === '' || value.length > MAX_RETURN_TO_LENGTH) return DEFAULT_RETURN_TO
  if (SUSPICIOUS_CHARACTERS.test(value)) return DEFAULT_RETURN_TO
  const bankOrigin = new URL(publicUrls.bank).origin
  if (value.startsWith('/')) {
    if (value.startsWith('//')) return DEFAULT_RETURN_TO
    // Resolved against our own origin, the path comes back percent-encoded and can only stay on the bank.
    const url = new URL(value, bankOrigin)
    const path = `${url.pathname}${url.search}${url.hash}`
    // Resolving removes dot segments, so '/.//evil.example' comes out as '//evil.example': check the result too.
    return url.origin === bankOrigin && !/^\/[/\\]/.test(path) ? path : DEFAULT_RETURN_TO
  }
  // Only an explicit http(s) URL: the parser would otherwise accept forms such as "http:evil.example".
  if (!/^https?:\/\//i.test(value) || !URL.canParse(value)) return DEFAULT_RETURN_TO
  const url = new URL(value)
  const allowedOrigins = [bankOrigin, new URL(publicUrls.retirement).origin]
  return allowedOrigins.includes(url.origin) && !url.username && !url.password ? url.href : DEFAULT_RETURN_TO
}
