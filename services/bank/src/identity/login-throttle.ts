import type { Database } from '@sso/shared'

export interface LoginThrottleLimits {
  /** Consecutive failed logins allowed for one username before it is locked. */
  maxFailures: number
  /** How long a username stays locked after its last counted attempt. */
  windowMs: number
}

export type AttemptDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number }

/**
 * Counts login attempts per username (known or not, so the answer never tells which exist). An attempt is counted
 * *before* the password is checked, in one statement, so parallel attempts cannot slip past the limit while their
 * argon2 work runs; a successful login then clears the count, which makes the limit one on consecutive failures.
 */
export function createLoginThrottle(db: Database, { maxFailures, windowMs }: LoginThrottleLimits) {
  // A row older than the window starts over at 1; a locked row (maxFailures reached, still inside the window) is
  // left untouched and returns nothing. Refused attempts are not counted, so the lock ends `windowMs` after the
  // last failure however hard someone keeps trying.
  const countAttempt = db.prepare<{ username: string; now: number; windowStart: number; max: number }, unknown>(`
    INSERT INTO login_throttle (username, attempts, last_attempt_at) VALUES (@username, 1, @now)
    ON CONFLICT (username) DO UPDATE SET
      attempts = CASE WHEN last_attempt_at <= @windowStart THEN 1 ELSE attempts + 1 END,
      last_attempt_at = @now
    WHERE attempts < @max OR last_attempt_at <= @windowStart
    RETURNING attempts`)
  const selectLastAttempt = db.prepare<[string], { lastAttemptAt: number }>(
    'SELECT last_attempt_at AS lastAttemptAt FROM login_throttle WHERE username = ?',
  )
  const clear = db.prepare<[string]>('DELETE FROM login_throttle WHERE username = ?')
  const uncount = db.prepare<[string]>(
    'UPDATE login_throttle SET attempts = attempts - 1 WHERE username = ? AND attempts > 0',
  )
  const deleteExpired = db.prepare<[number]>('DELETE FROM login_throttle WHERE last_attempt_at <= ?')

  return {
    /** Counts an attempt for `username`, or refuses it while the username is locked. */
    countAttempt(username: string): AttemptDecision {
      const now = Date.now()
      const windowStart = now - windowMs
      // Rows of names nobody tries any more would otherwise pile up; the index makes this cheap.
      deleteExpired.run(windowStart)
      if (countAttempt.get({ username, now, windowStart, max: maxFailures }) !== undefined) return { allowed: true }
      const lastAttemptAt = selectLastAttempt.get(username)?.lastAttemptAt ?? now
      return { allowed: false, retryAfterSeconds: Math.ceil((lastAttemptAt + windowMs - now) / 1000) }
    },
    /** The attempt never reached the password check (the server was busy): it is not a failure of the user's. */
    uncountAttempt: (username: string) => uncount.run(username),
    /** The password was right: the failures before it no longer count. */
    clearFailures: (username: string) => clear.run(username),
  }
}
export type LoginThrottle = ReturnType<typeof createLoginThrottle>
