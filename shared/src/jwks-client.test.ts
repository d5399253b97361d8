import { createPublicKey } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Registry } from 'prom-client'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { createJwksClient, type JwksClient, MAX_JWKS_BYTES } from './jwks-client.js'
import { generatePrivateKeyPem, publicJwkOf } from './keyring.js'

// A real HTTP server stands in for the bank's /.well-known/jwks.json, counting what retirement asks.
let server: Server
let fetches: number
let answer: () => { status: number; body: string }
let client: JwksClient | undefined
const jwk = publicJwkOf(createPublicKey(generatePrivateKeyPem('ES256')))
const jwks = JSON.stringify({ keys: [jwk] })

beforeEach(async () => {
  fetches = 0
  answer = () => ({ status: 200, body: jwks })
  server = createServer((_request, response) => {
    fetches += 1
    const { status, body } = answer()
    response.writeHead(status, { 'content-type': 'application/json' }).end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
})
afterEach(async () => {
  client?.stop()
  await new Promise((resolve) => server.close(resolve))
})

function startClient() {
  const { port } = server.address() as AddressInfo
  client = createJwksClient({
    url: `http://127.0.0.1:${port}/jwks.json`,
    log: { warn: () => {} } as never, // only warn is used: a failed fetch
    registry: new Registry(),
  })
  client.start()
  return client
}

async function untilReady(jwksClient: JwksClient) {
  for (let attempt = 0; attempt < 100 && jwksClient.notReadyReason(); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

it('is not ready until it has keys, then finds the key by its kid', async () => {
  const jwksClient = startClient()
  expect(jwksClient.notReadyReason()).toBeDefined()
  await untilReady(jwksClient)
  expect(jwksClient.notReadyReason()).toBeUndefined()
  expect(jwksClient.keyring.findVerificationKey(jwk.kid)?.algorithm).toBe('ES256')
  expect(jwksClient.keyring.signingKey).toBeUndefined()
})

it('asks the bank again at most once for 50 unknown kids arriving together, and not again within 30 s', async () => {
  const jwksClient = startClient()
  await untilReady(jwksClient)
  expect(fetches).toBe(1)
  const unknown = Array.from({ length: 50 }, (_, index) => `unknown-kid-${index}`)
  // The first start fetch was just now: within 30 s, no unknown kid makes it fetch again.
  const found = await Promise.all(unknown.map((kid) => jwksClient.keyring.findUnknownKey?.(kid)))
  expect(found.every((key) => key === undefined)).toBe(true)
  expect(fetches).toBe(1)
  // 31 s later, 50 at once share a single fetch, and the next ones wait another 30 s.
  const realNow = Date.now
  Date.now = () => realNow() + 31_000
  try {
    await Promise.all(unknown.map((kid) => jwksClient.keyring.findUnknownKey?.(kid)))
    expect(fetches).toBe(2)
    await Promise.all(unknown.map((kid) => jwksClient.keyring.findUnknownKey?.(kid)))
    expect(fetches).toBe(2)
  } finally {
    Date.now = realNow
  }
})

it('keeps the keys it has while the bank answers errors or too much', async () => {
  const jwksClient = startClient()
  await untilReady(jwksClient)
  answer = () => ({ status: 200, body: 'x'.repeat(MAX_JWKS_BYTES + 1) })
  // Force a refetch through the unknown-kid path by pretending 30 s passed.
  const realNow = Date.now
  Date.now = () => realNow() + 31_000
  try {
    await jwksClient.keyring.findUnknownKey?.('another-kid')
    expect(fetches).toBe(2)
    answer = () => ({ status: 503, body: '' })
    Date.now = () => realNow() + 62_000
    await jwksClient.keyring.findUnknownKey?.('another-kid')
    expect(fetches).toBe(3)
  } finally {
    Date.now = realNow
  }
  expect(jwksClient.keyring.findVerificationKey(jwk.kid)?.algorithm).toBe('ES256')
  expect(jwksClient.notReadyReason()).toBeUndefined()
})
