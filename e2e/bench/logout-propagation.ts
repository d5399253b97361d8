// Logout propagation across retirement replicas (issue 14, bench item 5): two retirement processes on one PostgreSQL
// database; a logout notice is posted to one of them, as the bank's delivery through a load balancer lands on one,
// and both are asked until they refuse the session's token. Goal: p99 ≤ 1 s (the contract's bound is 5 s).
// No bank: the notices are signed here with the services' secret, as the bank signs them, so what is timed is
// retirement's own path (commit + NOTIFY at the receiver, LISTEN at its sibling), not the bank's outbox.
import { randomUUID } from 'node:crypto'
import { forgeAccessToken, forgeLogoutToken } from '@sso/shared/testing'
import { type Replica, ReplicaSet, replicaLetter } from '../support/replicas.js'
import { E2E_SECRET } from '../support/start-services.js'
import type { ThrowawayPostgres } from '../support/throwaway-postgres.js'
import { percentile } from './statistics.js'

/** At most this many logouts (enough that p99 is not simply the worst), and no more than `maxSeconds` of them. */
const logouts = 100
const maxSeconds = 30
/** The contract's bound: a logout not refused by both within this counts as a failure. */
const boundMs = 5_000
/** How often each replica is asked while a logout propagates: the figures' resolution. */
const askEveryMs = 5
/** A pause between logouts, so one logout's requests are not still queued behind the next. */
const pauseMs = 20
const user = { id: '6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b', username: 'bench-logout' }

export interface PropagationReport {
  settings: {
    retirementReplicas: number
    logoutsPlanned: number
    maxSeconds: number
    askEveryMs: number
    boundMs: number
  }
  logouts: number
  /** Logouts one replica still accepted at the bound, or whose notice was not answered 200. */
  failures: number
  /** From posting the notice to the last of the two replicas refusing: what a user who logged out waits for. */
  refusedAtBothMs: { p50: number; p99: number; worst: number }
  /** From the receiving replica's 200 to its sibling refusing: the part PostgreSQL carries (NOTIFY). */
  siblingAfterAckMs: { p50: number; p99: number; worst: number }
  durationSeconds: number
}

async function statusOf(replica: Replica, token: string): Promise<number> {
  const response = await fetch(`${replica.url}/api/me`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(boundMs),
  })
  await response.body?.cancel()
  return response.status
}

/** Asks `replica` every few ms until it refuses `token`; ms since `sinceMs`, or Infinity past the bound. */
async function msUntilRefused(replica: Replica, token: string, sinceMs: number): Promise<number> {
  for (;;) {
    if ((await statusOf(replica, token)) === 401) return performance.now() - sinceMs
    if (performance.now() - sinceMs > boundMs) return Number.POSITIVE_INFINITY
    await new Promise((resolve) => setTimeout(resolve, askEveryMs))
  }
}

const summarize = (samples: number[]) => ({
  p50: percentile(samples, 0.5),
  p99: percentile(samples, 0.99),
  worst: samples.length === 0 ? Number.NaN : Math.max(...samples),
})

export async function measureLogoutPropagation(postgres: ThrowawayPostgres, logLevel: string) {
  const startedAt = performance.now()
  const set = await ReplicaSet.start({
    banks: 0,
    retirements: 2,
    postgresAdminUrl: postgres.adminUrl,
    env: { LOG_LEVEL: logLevel },
  })
  try {
    const [first, second] = set.retirements as [Replica, Replica]
    const refusedAtBoth: number[] = []
    const siblingAfterAck: number[] = []
    let failures = 0
    const deadline = performance.now() + maxSeconds * 1000
    let done = 0
    for (; done < logouts && performance.now() < deadline; done++) {
      // Alternate which replica the notice lands on, as a round-robin balancer would.
      const [receiver, sibling] = done % 2 === 0 ? [first, second] : [second, first]
      const sid = randomUUID()
      const token = forgeAccessToken(user, { secret: E2E_SECRET, claims: { sid } })
      for (const replica of [receiver, sibling]) {
        const status = await statusOf(replica, token)
        if (status !== 200) throw new Error(`${set.label(replica)} answered ${status} before the logout`)
      }
      const postedAt = performance.now()
      // Asked from the moment the notice is sent, so a refusal before the 200 arrives is timed too.
      const siblingRefused = msUntilRefused(sibling, token, postedAt)
      const notice = await fetch(`${receiver.url}/backchannel/logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: forgeLogoutToken(E2E_SECRET, { claims: { sid, sub: user.id } }) }),
        signal: AbortSignal.timeout(boundMs),
      })
      await notice.body?.cancel()
      const ackedMs = performance.now() - postedAt
      const [receiverMs, siblingMs] = await Promise.all([msUntilRefused(receiver, token, postedAt), siblingRefused])
      const bothMs = Math.max(receiverMs, siblingMs)
      if (notice.status !== 200 || !Number.isFinite(bothMs)) failures++
      refusedAtBoth.push(bothMs)
      siblingAfterAck.push(Math.max(0, siblingMs - ackedMs))
      await new Promise((resolve) => setTimeout(resolve, pauseMs))
    }
    const report: PropagationReport = {
      settings: {
        retirementReplicas: set.retirements.length,
        logoutsPlanned: logouts,
        maxSeconds,
        askEveryMs,
        boundMs,
      },
      logouts: done,
      failures,
      refusedAtBothMs: summarize(refusedAtBoth),
      siblingAfterAckMs: summarize(siblingAfterAck),
      durationSeconds: (performance.now() - startedAt) / 1000,
    }
    return report
  } catch (error) {
    throw new Error(`logout propagation: ${error instanceof Error ? error.message : String(error)}\n${set.describe()}`)
  } finally {
    await set.stopAll()
  }
}

/** The propagation table, as the engine tables are printed. */
export function renderPropagation(report: PropagationReport): string {
  const ms = (value: number) => (Number.isFinite(value) ? `${value.toFixed(1)} ms` : `> ${report.settings.boundMs} ms`)
  const row = (label: string, figures: PropagationReport['refusedAtBothMs']) =>
    `${label.padEnd(44)}${ms(figures.p50).padStart(11)}${ms(figures.p99).padStart(11)}${ms(figures.worst).padStart(11)}`
  const p99 = report.refusedAtBothMs.p99
  return [
    `logout propagation on PostgreSQL: ${report.settings.retirementReplicas} retirement replicas ` +
      `(${replicaLetter(0)}, ${replicaLetter(1)}), notices alternating between them; ${report.logouts} logouts, ` +
      `each replica asked every ${report.settings.askEveryMs} ms; ${report.durationSeconds.toFixed(0)} s in all`,
    '',
    `${''.padEnd(44)}${'p50'.padStart(11)}${'p99'.padStart(11)}${'worst'.padStart(11)}`,
    row('notice posted → refused at both', report.refusedAtBothMs),
    row("receiver's 200 → refused by its sibling", report.siblingAfterAckMs),
    '',
    `goal p99 ≤ 1 s: ${p99 <= 1_000 ? 'ok' : 'MISSED'}; ` +
      (report.failures === 0
        ? `every logout refused at both within ${report.settings.boundMs} ms`
        : `WARNING: ${report.failures} logouts not refused at both within ${report.settings.boundMs} ms`),
    '',
  ].join('\n')
}
