import { ServerBusyError, withRetryAfter } from '@sso/shared'

const BUSY_RETRY_AFTER_SECONDS = 1

export interface WorkLimits {
  /** How many tasks run at once. */
  concurrency: number
  /** How many more may wait; beyond that, `run` refuses at once instead of letting latency grow unbounded. */
  maxQueued: number
}

/**
 * A small semaphore for CPU- and memory-heavy work (argon2). Bounding it keeps a burst of logins from
 * exhausting memory (each argon2 hash holds 19 MiB) and turns overload into a quick 503 rather than timeouts.
 */
export function createWorkLimiter({ concurrency, maxQueued }: WorkLimits) {
  let running = 0
  const waiting: Array<() => void> = []

  async function acquire() {
    if (running < concurrency) {
      running++
      return
    }
    if (waiting.length >= maxQueued) {
      throw withRetryAfter(new ServerBusyError(), BUSY_RETRY_AFTER_SECONDS)
    }
    // The releasing task hands its slot straight to us, so `running` stays counted.
    await new Promise<void>((resolve) => waiting.push(resolve))
  }

  function release() {
    const next = waiting.shift()
    if (next) next()
    else running--
  }

  return {
    async run<T>(task: () => Promise<T>): Promise<T> {
      await acquire()
      try {
        return await task()
      } finally {
        release()
      }
    },
    /** For tests and metrics: tasks running and waiting right now. */
    get load() {
      return { running, queued: waiting.length }
    },
  }
}
export type WorkLimiter = ReturnType<typeof createWorkLimiter>
