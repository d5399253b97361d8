// JWT_ALG=ES256 through real processes: the bank alone holds a private key, retirement starts with no secret at all
// and verifies with the keys the bank publishes; logout tokens are signed by the same key.
import { createPrivateKey, randomUUID, sign } from 'node:crypto'
import { generatePrivateKeyPem } from '@sso/shared'
import { base64url, decodeToken, forgeToken, mergeMembers } from '@sso/shared/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectTokenRefused, meWithBearer, registerAndLogIn } from './security/support.js'
import { Services } from './support/start-services.js'

let services: Services
const privateKey = generatePrivateKeyPem('ES256')
beforeAll(async () => {
  services = await Services.start({
    env: { JWT_ALG: 'ES256', JWT_SECRET: undefined },
    bankEnv: { JWT_PRIVATE_KEY: privateKey },
  })
})
afterAll(async () => {
  await services?.stopAll()
})

/** An ES256 JWS signed with `key` (a foreign key, for forgeries). */
function signEs256(header: object, claims: object, key: string): string {
  const input = `${base64url(header)}.${base64url(claims)}`
  const signature = sign('sha256', Buffer.from(input), { key: createPrivateKey(key), dsaEncoding: 'ieee-p1363' })
  return `${input}.${signature.toString('base64url')}`
}

async function waitUntilReady(url: string) {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if ((await fetch(`${url}/readyz`)).status === 200) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${url} never became ready`)
}

describe('JWT_ALG=ES256', () => {
  it('retirement, holding no secret, accepts the bank token and refuses forgeries', async () => {
    await waitUntilReady(services.retirementUrl)
    const user = await registerAndLogIn(services)
    expect(user.header.alg).toBe('ES256')
    expect((await meWithBearer(services.retirementUrl, user.accessToken)).status).toBe(200)
    expect((await meWithBearer(services.bankUrl, user.accessToken)).status).toBe(200)

    const jwks = await (await fetch(`${services.bankUrl}/.well-known/jwks.json`)).text()
    const foreignKey = generatePrivateKeyPem('ES256')
    const forgeries = [
      forgeToken(mergeMembers(user.header, { alg: 'HS256' }), user.claims, jwks, 'sha256'),
      forgeToken(mergeMembers(user.header, { alg: 'none' }), user.claims, '', 'none'),
      signEs256(user.header, { ...user.claims, username: 'admin' }, foreignKey),
      signEs256(mergeMembers(user.header, { kid: undefined, jwk: { kty: 'EC' } }), user.claims, foreignKey),
      signEs256(
        mergeMembers(user.header, { jku: `${services.bankUrl}/.well-known/jwks.json` }),
        user.claims,
        foreignKey,
      ),
      signEs256(mergeMembers(user.header, { alg: 'EdDSA' }), user.claims, privateKey),
    ]
    for (const token of forgeries) {
      await expectTokenRefused(await meWithBearer(services.retirementUrl, token), token, user)
      await expectTokenRefused(await meWithBearer(services.bankUrl, token), token, user)
    }
  })

  it('signs logout tokens with the key pair: a logout reaches retirement, a forged notice is refused', async () => {
    await waitUntilReady(services.retirementUrl)
    const user = await registerAndLogIn(services)
    const now = Math.floor(Date.now() / 1000)
    const forged = signEs256(
      { alg: 'ES256', typ: 'logout+jwt', kid: decodeToken(user.accessToken).header.kid },
      {
        iss: 'bank',
        aud: ['retirement'],
        iat: now,
        exp: now + 120,
        jti: randomUUID(),
        events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
        sid: user.claims.sid,
      },
      generatePrivateKeyPem('ES256'),
    )
    const post = await fetch(`${services.retirementUrl}/backchannel/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: forged }).toString(),
    })
    expect(post.status).toBe(400)
    expect((await meWithBearer(services.retirementUrl, user.accessToken)).status).toBe(200)

    const logout = await user.client.sendJson('POST', `${services.bankUrl}/api/logout`)
    expect(logout.status).toBe(204)
    const deadline = Date.now() + 5_000
    let status = 200
    while (status === 200 && Date.now() < deadline) {
      status = (await meWithBearer(services.retirementUrl, user.accessToken)).status
      if (status === 200) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(status).toBe(401)
  })
})
