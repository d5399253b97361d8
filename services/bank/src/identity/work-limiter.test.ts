import { describe, expect, it } from 'vitest'
import { createWorkLimiter } from './work-limiter.js'

function deferred() {
  let resolve = () => {}
  const promise = new Promise<void>((done) => {
    resolve = done
  })
  return { promise, resolve }
}

describe('createWorkLimiter', () => {
  it('runs at most `concurrency` tasks at once and starts queued ones as others finish', async () => {
    const limiter = createWorkLimiter({ concurrency: 2, maxQueued: 10 })
    const gates = [deferred(), deferred(), deferred()]
    let active = 0
    let mostActive = 0
    const results = gates.map((gate, index) =>
      limiter.run(async () => {
        active++
        mostActive = Math.max(mostActive, active)
        await gate.promise
        active--
        return index
      }),
    )
    await Promise.resolve()
    expect(limiter.load).toEqual({ running: 2, queued: 1 })
    for (const gate of gates) gate.resolve()
    expect(await Promise.all(results)).toEqual([0, 1, 2])
    expect(mostActive).toBe(2)
    expect(limiter.load).toEqual({ running: 0, queued: 0 })
  })

  it('refuses work beyond the queue bound with a 503 that carries Retry-After', async () => {
    const limiter = createWorkLimiter({ concurrency: 1, maxQueued: 1 })
    const gate = deferred()
    const running = limiter.run(() => gate.promise)
    const queued = limiter.run(async () => 'queued')
    await expect(limiter.run(async () => 'refused')).rejects.toMatchObject({
      statusCode: 503,
      code: 'SSO_BUSY',
      retryAfterSeconds: 1,
    })
    gate.resolve()
    await running
    expect(await queued).toBe('queued')
  })

  it('frees the slot when a task fails', async () => {
    const limiter = createWorkLimiter({ concurrency: 1, maxQueued: 0 })
    await expect(limiter.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(await limiter.run(async () => 'next')).toBe('next')
  })
})
