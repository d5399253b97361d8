import { connect, type Socket } from 'node:net'
import { Type } from 'typebox'
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest'
import { observability } from './observability.js'
import {
  addHealthCheck,
  addReadinessCheck,
  BODY_LIMIT_BYTES,
  createServiceApp,
  REQUEST_TIMEOUT_MS,
} from './service-app.js'

let app: ReturnType<typeof createServiceApp>
beforeEach(async () => {
  app = createServiceApp({ LOG_LEVEL: 'silent', TRUST_PROXY: [] })
  addHealthCheck(app)
  app.post(
    '/api/amount',
    { schema: { body: Type.Object({ cents: Type.Integer() }, { additionalProperties: false }) } },
    async (request) => ({
      status: 'ok',
      data: request.body.cents,
    }),
  )
})
afterEach(async () => {
  await app.close()
})

describe('createServiceApp', () => {
  it('validates strictly: no coercion of "100" to a number, no silent dropping of unknown properties', async () => {
    expect((await app.inject({ method: 'POST', url: '/api/amount', payload: { cents: 100 } })).json()).toEqual({
      status: 'ok',
      data: 100,
    })
    for (const payload of [{ cents: '100' }, { cents: 100, admin: true }]) {
      const response = await app.inject({ method: 'POST', url: '/api/amount', payload })
      expect(response.statusCode).toBe(400)
      expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_INVALID_INPUT' })
    }
  })

  it('names in a 400 only the properties the schema knows, never one the client made up', async () => {
    app.post(
      '/api/nested',
      {
        schema: {
          querystring: Type.Object({ page: Type.Optional(Type.Integer()) }, { additionalProperties: false }),
          body: Type.Object(
            { owner: Type.Object({ name: Type.String({ maxLength: 3 }) }, { additionalProperties: false }) },
            { additionalProperties: false },
          ),
        },
      },
      async () => ({ status: 'ok' }),
    )
    const invented = '<img src=x onerror=alert(1)>'
    const cases = [
      { url: '/api/amount', payload: { cents: 1, [invented]: 1 } },
      { url: '/api/nested', payload: { owner: { name: 'bob', [invented]: 1 } } },
      { url: `/api/nested?${encodeURIComponent(invented)}=1`, payload: { owner: { name: 'bob' } } },
    ]
    for (const { url, payload } of cases) {
      const response = await app.inject({ method: 'POST', url, payload })
      expect(response.statusCode).toBe(400)
      expect(response.json()).toMatchObject({ status: 'error', code: 'SSO_INVALID_INPUT' })
      expect(response.body).not.toContain('img')
      expect(response.body).not.toContain('onerror')
      expect(response.json().error).toMatch(/must not have additional properties/)
    }
    // A property the schema knows is still named, so the message stays useful.
    const known = await app.inject({ method: 'POST', url: '/api/nested', payload: { owner: { name: 'toolong' } } })
    expect(known.json().error).toBe('Invalid request: body/owner/name must not have more than 3 characters')
    const wrongType = await app.inject({ method: 'POST', url: '/api/amount', payload: { cents: 'x' } })
    expect(wrongType.json().error).toBe('Invalid request: body/cents must be integer')
  })

  it('takes an empty application/json body as no body, and still refuses broken or poisoned JSON', async () => {
    app.post('/api/no-body', async (request) => ({ status: 'ok', data: request.body ?? null }))
    const empty = await app.inject({
      method: 'POST',
      url: '/api/no-body',
      headers: { 'content-type': 'application/json' },
    })
    expect(empty.json()).toEqual({ status: 'ok', data: null })
    const broken = await app.inject({
      method: 'POST',
      url: '/api/no-body',
      payload: '{"a":',
      headers: { 'content-type': 'application/json' },
    })
    expect(broken.statusCode).toBe(400)
    const poisoned = await app.inject({
      method: 'POST',
      url: '/api/no-body',
      payload: '{"__proto__":{"admin":true}}',
      headers: { 'content-type': 'application/json' },
    })
    expect(poisoned.statusCode).toBe(400)
  })

  it('refuses bodies over the limit with 413', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/amount',
      payload: { cents: 1, pad: 'x'.repeat(BODY_LIMIT_BYTES) },
    })
    expect(response.statusCode).toBe(413)
  })

  it('answers unknown routes and malformed URLs in the error shape without echoing the URL', async () => {
    const missing = await app.inject({ url: '/api/nothing-here?token=eyJsecret' })
    expect(missing.statusCode).toBe(404)
    expect(missing.body).not.toContain('eyJsecret')
    const malformed = await app.inject({ url: '/api/%zz?token=eyJsecret' })
    expect(malformed.statusCode).toBe(400)
    expect(malformed.json().status).toBe('error')
    expect(malformed.body).not.toContain('eyJsecret')
  })

  it('answers /healthz as a liveness check, asking no database (readiness is another question)', async () => {
    const response = await app.inject({ url: '/healthz' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ status: 'ok' })
  })
})

/** Opens a raw TCP connection to the app, writes `text`, and resolves once it is open. */
function openRawConnection(port: number, text: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(text)
      resolve(socket)
    })
    socket.on('error', reject)
  })
}

/** Everything the server sent until it closed the connection, or 'still open' once `waitMs` has passed. */
function readUntilClosed(socket: Socket, waitMs: number): Promise<string> {
  return new Promise((resolve) => {
    let received = ''
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1')
    })
    socket.on('error', () => {}) // a reset is a close too
    const timer = setTimeout(() => {
      socket.destroy()
      resolve('still open')
    }, waitMs)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(received)
    })
  })
}

describe('slow clients', () => {
  const config = { LOG_LEVEL: 'silent' as const, TRUST_PROXY: [] }
  // Far above the 300 ms timeout and Node's check interval, far below the test's own timeout.
  const waitMs = 4_000

  it('sets a 30 s request timeout by default, with header and keep-alive timeouts within it', async () => {
    const server = createServiceApp(config).server
    expect(REQUEST_TIMEOUT_MS).toBe(30_000)
    expect(server.requestTimeout).toBe(30_000)
    expect(server.headersTimeout).toBeGreaterThan(0)
    expect(server.headersTimeout).toBeLessThanOrEqual(30_000)
    expect(server.keepAliveTimeout).toBeGreaterThan(0)
    expect(server.keepAliveTimeout).toBeLessThanOrEqual(30_000)
    expect(server.timeout).toBeGreaterThan(0)
  })

  describe('with a 300 ms request timeout, on a real socket', () => {
    let slowApp: ReturnType<typeof createServiceApp>
    let port: number
    beforeEach(async () => {
      slowApp = createServiceApp(config, { requestTimeoutMs: 300 })
      slowApp.post('/api/echo', async (request) => ({ status: 'ok', data: request.body ?? null }))
      slowApp.get('/healthz', async () => ({ status: 'ok' }))
      await slowApp.listen({ port: 0, host: '127.0.0.1' })
      const address = slowApp.server.address()
      port = typeof address === 'object' && address ? address.port : 0
    })
    afterEach(async () => {
      await slowApp.close()
    })

    it('cuts off a client that sent its headers and only part of its body', async () => {
      const socket = await openRawConnection(
        port,
        'POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":',
      )
      const received = await readUntilClosed(socket, waitMs)
      expect(received).not.toBe('still open')
      expect(received === '' || received.startsWith('HTTP/1.1 408')).toBe(true)
    })

    it('cuts off a client that trickles its headers, however steadily it sends', async () => {
      const socket = await openRawConnection(port, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n')
      // A byte every 50 ms: never idle, so only a deadline for the whole request can end it.
      const trickle = setInterval(() => {
        if (!socket.destroyed) socket.write('X')
      }, 50)
      socket.write('X-Slow: ')
      const received = await readUntilClosed(socket, waitMs)
      clearInterval(trickle)
      expect(received).not.toBe('still open')
      expect(received === '' || received.startsWith('HTTP/1.1 408')).toBe(true)
    })

    it('cuts off a slow client on the management listener too', async () => {
      const observed = createServiceApp(config, { requestTimeoutMs: 300 })
      await observed.register(observability, { serviceName: 'bank' })
      onTestFinished(() => observed.close())
      const management = await observed.metrics.listen({ host: '127.0.0.1', port: 0 })
      const slow = await openRawConnection(
        management.port,
        'GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: half a header',
      )
      const received = await readUntilClosed(slow, waitMs)
      expect(received).not.toBe('still open')
      expect(received === '' || received.startsWith('HTTP/1.1 408')).toBe(true)
    })

    it('still answers a client that sends its whole request in time, and keeps its connection alive', async () => {
      const socket = await openRawConnection(port, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n')
      const received = await readUntilClosed(socket, waitMs)
      // Answered at once, then closed only by the keep-alive timeout (or still open): never a 408.
      expect(received === 'still open' || received.startsWith('HTTP/1.1 200')).toBe(true)
    })
  })
})

describe('addReadinessCheck (GET /readyz)', () => {
  let probed: ReturnType<typeof createServiceApp>
  afterEach(async () => {
    await probed?.close()
  })

  function appWith(checks: Parameters<typeof addReadinessCheck>[1], timeoutMs?: number) {
    probed = createServiceApp({ LOG_LEVEL: 'silent', TRUST_PROXY: [] })
    addReadinessCheck(probed, checks, timeoutMs === undefined ? {} : { timeoutMs })
    return probed
  }

  it('answers 200 {"status":"ok"} when every check holds', async () => {
    const response = await appWith([{ name: 'a', check: () => undefined }]).inject({ url: '/readyz' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ status: 'ok' })
  })

  it("answers 503 in the error shape with the failing check's reason", async () => {
    const checks = [
      { name: 'a', check: () => undefined },
      { name: 'b', check: async () => 'the list is 7 s old' },
    ]
    const response = await appWith(checks).inject({ url: '/readyz' })
    expect(response.statusCode).toBe(503)
    expect(response.json()).toEqual({ status: 'error', error: 'Not ready: the list is 7 s old', code: 'SSO_NOT_READY' })
  })

  it('answers 503 naming a check that throws, without its error message', async () => {
    const checks = [
      {
        name: 'the database',
        check: async () => {
          throw new Error('connect ECONNREFUSED db.internal:5432 as user retirement')
        },
      },
    ]
    const response = await appWith(checks).inject({ url: '/readyz' })
    expect(response.statusCode).toBe(503)
    expect(response.json()).toMatchObject({ error: 'Not ready: the database does not answer', code: 'SSO_NOT_READY' })
    expect(response.body).not.toContain('db.internal')
  })

  it('answers 503 when a check does not answer within the timeout', async () => {
    const hanging = { name: 'the database', check: () => new Promise<undefined>(() => {}) }
    const response = await appWith([hanging], 50).inject({ url: '/readyz' })
    expect(response.statusCode).toBe(503)
    expect(response.json()).toMatchObject({ error: 'Not ready: the database did not answer within 50 ms' })
  })

  it('runs one check for probes that arrive while it runs, and a new one after', async () => {
    let runs = 0
    let release = () => {}
    const slow = {
      name: 'slow',
      check: () => {
        runs++
        return new Promise<undefined>((resolve) => {
          release = () => resolve(undefined)
        })
      },
    }
    const ready = appWith([slow])
    await ready.ready()
    const probes = Array.from({ length: 5 }, () => ready.inject({ url: '/readyz' }))
    await new Promise((resolve) => setTimeout(resolve, 20))
    release()
    expect((await Promise.all(probes)).map((response) => response.statusCode)).toEqual([200, 200, 200, 200, 200])
    expect(runs).toBe(1)
    const later = ready.inject({ url: '/readyz' })
    await new Promise((resolve) => setTimeout(resolve, 20))
    release()
    expect((await later).statusCode).toBe(200)
    expect(runs).toBe(2)
  })
})
