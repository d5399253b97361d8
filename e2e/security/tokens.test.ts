// Forged, tampered and malformed access tokens against both services' /api/me (RFC 8725, ASVS V3.5). Each forgery
// is the user's real token with one thing changed, so a refusal can only be for that thing. Every case asserts the
// refusal (401 with the generic body) and that the user's data and the token itself do not come back.
import { createServer } from 'node:http'
import { base64url, forgeTokenWithSpareBits, hmacSignature, respellings } from '@sso/shared/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readJson } from '../support/http-client.js'
import { E2E_SECRET, Services } from '../support/start-services.js'
import {
  expectTokenRefused,
  forge,
  meWithBearer,
  meWithCookie,
  nowSeconds,
  registerAndLogIn,
  signRaw,
  type TestUser,
} from './support.js'

let services: Services
let user: TestUser
let otherUser: TestUser
beforeAll(async () => {
  services = await Services.start()
  user = await registerAndLogIn(services)
  otherUser = await registerAndLogIn(services)
})
afterAll(async () => {
  await services?.stopAll()
})

const NUL = String.fromCharCode(0)
const ATTACKER_KEY = 'attacker-key-attacker-key-attacker-key-48-bytes!'

/** A case: builds a token from the real user's, once the user exists. */
type Forgery = [name: string, build: () => string]

function unsigned(header: Record<string, unknown>, claims: Record<string, unknown> = user.claims) {
  return `${base64url(header)}.${base64url(claims)}.`
}

const forgery: Forgery[] = [
  ['alg "none" without a signature', () => unsigned({ alg: 'none', typ: 'JWT', kid: user.header.kid })],
  ['alg "None"', () => unsigned({ alg: 'None', typ: 'JWT', kid: user.header.kid })],
  ['alg "NONE"', () => unsigned({ alg: 'NONE', typ: 'JWT', kid: user.header.kid })],
  [
    'alg "none" keeping the real signature',
    () =>
      `${unsigned({ alg: 'none', typ: 'JWT', kid: user.header.kid }).slice(0, -1)}.${user.accessToken.split('.')[2]}`,
  ],
  ['an empty signature', () => `${user.accessToken.split('.').slice(0, 2).join('.')}.`],
  ['a signature by the wrong key', () => forge(user, { secret: ATTACKER_KEY })],
  [
    'a tampered username with the old signature',
    () => {
      const [header, , signature] = user.accessToken.split('.')
      return `${header}.${base64url({ ...user.claims, username: 'admin' })}.${signature}`
    },
  ],
  [
    "another user's sub with the old signature",
    () => {
      const [header, , signature] = user.accessToken.split('.')
      return `${header}.${base64url({ ...user.claims, sub: otherUser.id })}.${signature}`
    },
  ],
  ['HS384 with the right key', () => forge(user, { header: { alg: 'HS384' }, hash: 'sha384' })],
  ['HS512 with the right key', () => forge(user, { header: { alg: 'HS512' }, hash: 'sha512' })],
  ['RS256 with the secret as an HMAC key (key confusion)', () => forge(user, { header: { alg: 'RS256' } })],
  ['ES256 with the secret as an HMAC key', () => forge(user, { header: { alg: 'ES256' } })],
  [
    'PS256 with an empty signature',
    () =>
      `${forge(user, { header: { alg: 'PS256' } })
        .split('.')
        .slice(0, 2)
        .join('.')}.`,
  ],
  ['HS256 with an empty key', () => forge(user, { secret: Buffer.alloc(0) })],
  ['HS256 with a one-byte key', () => forge(user, { secret: 'a' })],
  ['no alg at all', () => forge(user, { header: { alg: undefined } })],
  [
    'a JWE-shaped token (five parts, alg dir)',
    () =>
      [
        base64url({ alg: 'dir', enc: 'A256GCM', kid: user.header.kid }),
        '',
        base64url('twelve bytes'),
        base64url(JSON.stringify(user.claims)),
        base64url('sixteen byte tag'),
      ].join('.'),
  ],
]

const headers: Forgery[] = [
  ['no kid', () => forge(user, { header: { kid: undefined } })],
  ['an unknown kid', () => forge(user, { header: { kid: 'AAAAAAAAAAAAAAAA' } })],
  [
    'a kid of a path, signed with an empty key',
    () => forge(user, { header: { kid: '../../../../../../dev/null' }, secret: Buffer.alloc(0) }),
  ],
  [
    'a kid of SQL, signed with its selected value',
    () => forge(user, { header: { kid: "x' UNION SELECT 'key' --" }, secret: 'key' }),
  ],
  [
    'a kid of a URL, signed with the attacker key',
    () => forge(user, { header: { kid: 'https://evil.example/key' }, secret: ATTACKER_KEY }),
  ],
  ['a kid that is a number', () => forge(user, { header: { kid: 1 } })],
  ['a kid that is an object', () => forge(user, { header: { kid: { toString: user.header.kid } } })],
  [
    'a jku pointing at the attacker',
    () => forge(user, { header: { kid: undefined, jku: 'https://evil.example/jwks.json' }, secret: ATTACKER_KEY }),
  ],
  [
    'an x5u pointing at the attacker',
    () => forge(user, { header: { kid: undefined, x5u: 'https://evil.example/cert.pem' }, secret: ATTACKER_KEY }),
  ],
  [
    "an embedded jwk holding the attacker's key",
    () =>
      forge(user, {
        header: { jwk: { kty: 'oct', k: Buffer.from(ATTACKER_KEY).toString('base64url') } },
        secret: ATTACKER_KEY,
      }),
  ],
  [
    'an unknown crit extension, signed with the real key',
    () => forge(user, { header: { crit: ['exp-policy'], 'exp-policy': 1 } }),
  ],
  [
    'a duplicate alg whose last value is "none"',
    () =>
      `${base64url(`{"alg":"HS256","typ":"JWT","kid":"${user.header.kid}","alg":"none"}`)}.${base64url(user.claims)}.`,
  ],
  [
    'a duplicate kid whose last value is unknown',
    () =>
      signRaw(
        `{"alg":"HS256","typ":"JWT","kid":"${user.header.kid}","kid":"AAAAAAAAAAAAAAAA"}`,
        JSON.stringify(user.claims),
      ),
  ],
  ['a logout token type (typ logout+jwt)', () => forge(user, { header: { typ: 'logout+jwt' } })],
]

const claims: Forgery[] = [
  ['no exp', () => forge(user, { claims: { exp: undefined } })],
  ['an exp in the past', () => forge(user, { claims: { exp: nowSeconds() - 120 } })],
  ['an exp 90 s ago (beyond the 30 s tolerance)', () => forge(user, { claims: { exp: nowSeconds() - 90 } })],
  ['a non-numeric exp', () => forge(user, { claims: { exp: '9999999999' } })],
  ['an nbf 120 s ahead', () => forge(user, { claims: { nbf: nowSeconds() + 120 } })],
  ['an nbf 90 s ahead', () => forge(user, { claims: { nbf: nowSeconds() + 90 } })],
  ['an iat 120 s ahead', () => forge(user, { claims: { iat: nowSeconds() + 120 } })],
  ['an iat 90 s ahead', () => forge(user, { claims: { iat: nowSeconds() + 90 } })],
  ['no iat', () => forge(user, { claims: { iat: undefined } })],
  ['a non-numeric iat', () => forge(user, { claims: { iat: 'yesterday' } })],
  ['iss "retirement"', () => forge(user, { claims: { iss: 'retirement' } })],
  ['iss "evil"', () => forge(user, { claims: { iss: 'evil' } })],
  ['no iss', () => forge(user, { claims: { iss: undefined } })],
  ['no aud', () => forge(user, { claims: { aud: undefined } })],
  ['an empty aud', () => forge(user, { claims: { aud: [] } })],
  ['an aud of another service', () => forge(user, { claims: { aud: ['payroll'] } })],
  ['no sub', () => forge(user, { claims: { sub: undefined } })],
  ['a sub that is not a user id', () => forge(user, { claims: { sub: 'admin' } })],
  ['no sid', () => forge(user, { claims: { sid: undefined } })],
  ['no jti', () => forge(user, { claims: { jti: undefined } })],
  ['no username', () => forge(user, { claims: { username: undefined } })],
  ['an array payload', () => signRaw(JSON.stringify(user.header), JSON.stringify([user.claims]))],
  ['a string payload', () => signRaw(JSON.stringify(user.header), JSON.stringify(JSON.stringify(user.claims)))],
  ['a number payload', () => signRaw(JSON.stringify(user.header), '42')],
]

const malformed: Forgery[] = [
  ['an empty token', () => ''],
  ['one part', () => user.accessToken.split('.')[0] ?? ''],
  ['two parts', () => user.accessToken.split('.').slice(0, 2).join('.')],
  ['four parts', () => `${user.accessToken}.${user.accessToken.split('.')[2]}`],
  ['bad base64url in the payload', () => user.accessToken.replace(/\.(.)/, '.*$1')],
  [
    'standard base64 (+ and /) in the signature',
    () => user.accessToken.replace(/-/g, '+').replace(/_/g, '/').replace(/[^.]$/, '/'),
  ],
  [
    'padding on every segment',
    () =>
      user.accessToken
        .split('.')
        .map((part) => `${part}==`)
        .join('.'),
  ],
  ['a header that is not JSON', () => signRaw('{"alg":"HS256",', JSON.stringify(user.claims))],
  ['a payload that is not JSON', () => signRaw(JSON.stringify(user.header), '{"sub":')],
  ['a 5 KiB token (over the 4 KiB bound)', () => forge(user, { claims: { pad: 'x'.repeat(5 * 1024) } })],
  [
    'a __proto__ header member carrying the kid',
    () => signRaw(`{"alg":"HS256","typ":"JWT","__proto__":{"kid":"${user.header.kid}"}}`, JSON.stringify(user.claims)),
  ],
  [
    'a __proto__ claim carrying the sub',
    () => {
      const { sub, ...rest } = user.claims
      return signRaw(
        JSON.stringify(user.header),
        JSON.stringify({ ...rest, ['__proto__']: { sub } }).replace('"__proto__"', '"__proto__"'),
      )
    },
  ],
  [
    'a __proto__ claim carrying the exp',
    () => {
      const { exp, ...rest } = user.claims
      return signRaw(JSON.stringify(user.header), `{"__proto__":{"exp":${exp}},${JSON.stringify(rest).slice(1)}`)
    },
  ],
  [
    'invalid UTF-8 between JSON tokens',
    () => {
      const payload = Buffer.concat([
        Buffer.from('{'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from(JSON.stringify(user.claims).slice(1)),
      ])
      const signingInput = `${base64url(user.header)}.${payload.toString('base64url')}`
      return `${signingInput}.${hmacSignature(signingInput, 'unused')}`
    },
  ],
  ['a NUL byte inside the token', () => `${user.accessToken.slice(0, 20)}${NUL}${user.accessToken.slice(20)}`],
]

const groups: Array<[string, Forgery[]]> = [
  ['forgery', forgery],
  ['headers', headers],
  ['claims', claims],
  ['malformed', malformed],
]

describe.each(['bank', 'retirement'] as const)('%s /api/me', (service) => {
  const baseUrl = () => (service === 'bank' ? services.bankUrl : services.retirementUrl)

  it('accepts the real token (the control every refusal below is measured against)', async () => {
    const response = await meWithBearer(baseUrl(), user.accessToken)
    expect(response.status).toBe(200)
    expect(await readJson(response)).toEqual({ status: 'ok', data: { id: user.id, username: user.username } })
  })

  describe.each(groups)('%s', (_group, cases) => {
    it.each(cases)('refuses %s', async (_name, build) => {
      const token = build()
      // fetch refuses header values with a NUL; such a token reaches a server only in a cookie.
      const response = token.includes(NUL)
        ? await meWithCookie(baseUrl(), encodeURIComponent(token))
        : await meWithBearer(baseUrl(), token)
      await expectTokenRefused(response, token, user)
    })
  })

  it('refuses every other base64url spelling of a valid token (unused bits of any segment), before and after use', async () => {
    const token = forgeTokenWithSpareBits(user.header, user.claims, E2E_SECRET)
    const others = respellings(token)
    // 3 for the signature (2 spare bits), 3 or 15 for each of the header and the payload.
    expect(others.length).toBeGreaterThanOrEqual(9)
    for (const other of others) await expectTokenRefused(await meWithBearer(baseUrl(), other), other, user)
    expect((await meWithBearer(baseUrl(), token)).status).toBe(200)
    for (const other of others) await expectTokenRefused(await meWithCookie(baseUrl(), other), other, user)
  })

  it('accepts times 25 s off (within the tolerance): iat and nbf ahead, exp just past', async () => {
    const token = forge(user, { claims: { iat: nowSeconds() + 25, nbf: nowSeconds() + 25, exp: nowSeconds() - 20 } })
    const response = await meWithBearer(baseUrl(), token)
    expect(response.status).toBe(200)
    expect((await readJson(response)).data).toEqual({ id: user.id, username: user.username })
  })

  it("refuses an aud naming only the other service (the other service's token is not this one's)", async () => {
    const other = service === 'bank' ? 'retirement' : 'bank'
    const token = forge(user, { claims: { aud: [other] } })
    await expectTokenRefused(await meWithBearer(baseUrl(), token), token, user)
    await expectTokenRefused(await meWithBearer(baseUrl(), forge(user, { claims: { aud: other } })), undefined, user)
  })

  it('refuses a 64 KiB token in the Authorization header, unparsed, and keeps serving', async () => {
    const token = forge(user, { claims: { pad: 'x'.repeat(64 * 1024) } })
    const response = await meWithBearer(baseUrl(), token)
    // Node refuses headers over 16 KiB before Fastify runs (431); either way nothing is parsed or answered.
    expect([401, 431]).toContain(response.status)
    expect(await response.text()).not.toContain(user.id)
    expect((await meWithBearer(baseUrl(), user.accessToken)).status).toBe(200)
  })

  it('refuses a 64 KiB token in the access_token cookie, unparsed, and keeps serving', async () => {
    const token = forge(user, { claims: { pad: 'x'.repeat(64 * 1024) } })
    const response = await meWithCookie(baseUrl(), token)
    expect([401, 431]).toContain(response.status)
    expect(await response.text()).not.toContain(user.id)
    expect((await meWithCookie(baseUrl(), user.accessToken)).status).toBe(200)
  })

  it('never fetches a key from a jku or x5u URL, even in a token signed with the real key', async () => {
    let fetched = 0
    const keyServer = createServer((_request, response) => {
      fetched += 1
      response.end('{"keys":[]}')
    })
    await new Promise<void>((resolve) => keyServer.listen(0, '127.0.0.1', resolve))
    try {
      const address = keyServer.address()
      const keyUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/keys`
      const attackerSigned = forge(user, { header: { kid: undefined, jku: keyUrl, x5u: keyUrl }, secret: ATTACKER_KEY })
      await expectTokenRefused(await meWithBearer(baseUrl(), attackerSigned), attackerSigned, user)
      // Signed with the real key, the URL is just an unused header member: the key still comes from the keyring.
      const realSigned = forge(user, { header: { jku: keyUrl, x5u: keyUrl } })
      const response = await meWithBearer(baseUrl(), realSigned)
      expect(response.status).toBe(200)
      expect((await readJson(response)).data).toEqual({ id: user.id, username: user.username })
      expect(fetched).toBe(0)
    } finally {
      await new Promise((resolve) => keyServer.close(resolve))
    }
  })

  it('does not accept a token in the query string (RFC 6750 §2.3: URLs end up in logs and histories)', async () => {
    const response = await fetch(`${baseUrl()}/api/me?access_token=${user.accessToken}`, {
      signal: AbortSignal.timeout(10_000),
    })
    const text = await response.text()
    expect(response.status).toBe(401)
    expect(text).not.toContain(user.id)
    expect(text).not.toContain(user.accessToken)
  })

  it('does not fall back to a valid cookie when the Authorization header holds a bad token', async () => {
    const token = forge(user, { secret: ATTACKER_KEY })
    const response = await fetch(`${baseUrl()}/api/me`, {
      headers: { authorization: `Bearer ${token}`, cookie: `access_token=${user.accessToken}` },
      signal: AbortSignal.timeout(10_000),
    })
    await expectTokenRefused(response, token, user)
  })

  it('is not polluted by a __proto__ claim in a validly signed token', async () => {
    const token = signRaw(
      JSON.stringify(user.header),
      `{"__proto__":{"polluted":"yes"},${JSON.stringify(user.claims).slice(1)}`,
    )
    const response = await meWithBearer(baseUrl(), token)
    // Accepted or not, the answer is exactly the user and the next request sees no polluted prototype.
    if (response.status === 200) {
      expect(await readJson(response)).toEqual({ status: 'ok', data: { id: user.id, username: user.username } })
    } else await expectTokenRefused(response, token, user)
    const after = await fetch(`${baseUrl()}/api/me`, { signal: AbortSignal.timeout(10_000) })
    expect(after.status).toBe(401)
    expect(await after.text()).not.toContain('polluted')
  })
})

describe("bank: the session must be the sub's own", () => {
  it("refuses a token signed with the real key that pairs one user's live sid with another user's sub", async () => {
    // What a holder of the shared HS256 secret (any verifying service) could mint: someone else's identity, carried
    // by a session of their own that the bank knows and has not revoked.
    const token = forge(user, { claims: { sub: otherUser.id, username: otherUser.username } })
    await expectTokenRefused(await meWithBearer(services.bankUrl, token), token, otherUser)
    expect((await meWithBearer(services.bankUrl, user.accessToken)).status).toBe(200)
  })
})

describe('retirement /backchannel/logout', () => {
  it('refuses every other base64url spelling of a valid logout token, so one notice is never taken for several', async () => {
    const now = nowSeconds()
    // A session nobody uses: accepting the notice revokes nothing any other test relies on.
    const token = forgeTokenWithSpareBits(
      { alg: 'HS256', typ: 'logout+jwt', kid: user.header.kid },
      {
        iss: 'bank',
        aud: ['retirement'],
        iat: now,
        exp: now + 120,
        jti: `respelled-${now}-${Math.random().toString(36).slice(2)}`,
        events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
        sid: `unused-session-${now}`,
      },
      E2E_SECRET,
    )
    const post = (logoutToken: string) =>
      fetch(`${services.retirementUrl}/backchannel/logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: logoutToken }).toString(),
        signal: AbortSignal.timeout(10_000),
      })
    const others = respellings(token)
    expect(others.length).toBeGreaterThanOrEqual(9)
    for (const other of others) expect((await post(other)).status).toBe(400)
    expect((await post(token)).status).toBe(200)
  })
})
