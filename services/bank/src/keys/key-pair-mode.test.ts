import { createPublicKey } from 'node:crypto'
import { generatePrivateKeyPem, jwkThumbprint } from '@sso/shared'
import { decodeToken, forgeToken, injectInto, mergeMembers, registerAndLogIn } from '@sso/shared/testing'
import { afterEach, describe, expect, it } from 'vitest'
import type { App } from '../app.js'
import { buildTestApp } from '../test-app.js'

let app: App | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

const me = (token: string) => app?.inject({ url: '/api/me', headers: { authorization: `Bearer ${token}` } })

describe.each(['ES256', 'EdDSA'] as const)('the bank with JWT_ALG=%s', (algorithm) => {
  const privateKey = generatePrivateKeyPem(algorithm)

  it('signs with its private key under the key thumbprint, publishes only the public key, and refuses an HS256 token keyed with it', async () => {
    app = await buildTestApp({ JWT_ALG: algorithm, JWT_SECRET: undefined, JWT_PRIVATE_KEY: privateKey })
    const user = await registerAndLogIn(injectInto(app))
    const { header, claims } = decodeToken(user.accessToken)
    const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as Record<string, string>
    expect(header).toMatchObject({ alg: algorithm, kid: jwkThumbprint(jwk as never) })
    expect((await me(user.accessToken))?.statusCode).toBe(200)

    const jwks = await app.inject({ url: '/.well-known/jwks.json' })
    expect(jwks.statusCode).toBe(200)
    expect(jwks.headers['cache-control']).toMatch(/^public, max-age=(\d+)$/)
    expect(Number(/max-age=(\d+)/.exec(String(jwks.headers['cache-control']))?.[1])).toBeLessThanOrEqual(600)
    const [published] = jwks.json().keys
    expect(published).toEqual({ ...jwk, kid: header.kid, alg: algorithm, use: 'sig' })
    expect(published).not.toHaveProperty('d')

    // Key confusion: HS256 under the key-pair kid, "keyed" with each spelling of the public key.
    const publicKey = createPublicKey(privateKey)
    const spellings = [
      publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      publicKey.export({ type: 'spki', format: 'der' }),
      JSON.stringify(published),
      jwks.body,
    ]
    for (const secret of spellings) {
      const forged = forgeToken(mergeMembers(header, { alg: 'HS256' }), claims, secret, 'sha256')
      expect((await me(forged))?.statusCode).toBe(401)
    }
    // `none` and an embedded jwk are refused as well.
    expect((await me(forgeToken(mergeMembers(header, { alg: 'none' }), claims, '', 'none')))?.statusCode).toBe(401)
  })
})

describe('the bank with JWT_ALG=HS256', () => {
  it('publishes no key: /.well-known/jwks.json is a 404', async () => {
    app = await buildTestApp()
    const response = await app.inject({ url: '/.well-known/jwks.json' })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toMatchObject({ status: 'error' })
  })
})
