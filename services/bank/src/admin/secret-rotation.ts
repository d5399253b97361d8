import { randomBytes } from 'node:crypto'

// How to replace the HS256 key that both services share without refusing anyone's token on the way.
//
// Every bank and retirement replica signs with JWT_SECRET and verifies a token with whichever configured key its
// `kid` names (JWT_SECRET or one of JWT_PREVIOUS_SECRETS; shared/src/keyring.ts). The bank also MACs refresh tokens
// with JWT_SECRET and recognises them by any configured key (refresh-token.ts). Replicas are updated one at a time,
// so at every moment of a rollout some run the old settings and some the new ones. The one rule that follows:
// **no replica may sign with a key that another replica does not yet accept.** Hence three steps, each rolled out to
// every replica of both services before the next one starts:
//   1. every replica learns the new key (in JWT_PREVIOUS_SECRETS) while all still sign with the current one;
//   2. every replica signs with the new key, still accepting the current one (now in JWT_PREVIOUS_SECRETS): a replica
//      still on step 1 accepts what an updated one signs, and the other way round;
//   3. once nothing made with the old key matters any more, it is dropped.
// Setting JWT_SECRET=new and JWT_PREVIOUS_SECRETS=current in one go (the obvious single step) is unsafe during the
// rollout: a bank replica already updated signs with the new key, and a retirement (or bank) replica not yet updated
// refuses those tokens (401) until its own turn comes.

/** 48 random bytes, as `openssl rand -base64 48` gives, in base64url: no `,` (the list separator), `+`, `/` or `=`. */
export function generateSecret(): string {
  return randomBytes(48).toString('base64url')
}

/** The two variables of the key ring, as one step sets them on every replica. */
export interface KeySettings {
  JWT_SECRET: string
  /** Comma-separated, as the variable is written; empty means unset. */
  JWT_PREVIOUS_SECRETS: string
}

export interface RotationStep {
  /** What the step achieves, for the operator. */
  purpose: string
  settings: KeySettings
  /** Seconds to wait, after the previous step is live on every replica, before starting this one. */
  waitSeconds: number
}

export interface RotationPlan {
  newSecret: string
  steps: [RotationStep, RotationStep, RotationStep]
}

/**
 * The three steps from the current settings to `newSecret`. Keys already in JWT_PREVIOUS_SECRETS (an earlier
 * rotation's) are kept until step 3: they may still be inside their own waiting time.
 *
 * Step 3 waits REFRESH_TOKEN_TTL, not only an access token's lifetime: access tokens signed with the old key are
 * dead after ACCESS_TOKEN_TTL (+ the clock tolerance), but refresh tokens MACed with it live that long, and only
 * while the old key is configured is an older one of them recognised as its session's (reuse → the session is
 * revoked); without it such a token is a plain 401 (docs/security.md). A session's current refresh token keeps
 * working either way: it is found by its hash.
 */
export function planSecretRotation(
  current: { secret: string; previousSecrets: readonly string[] },
  lifetimes: { accessTokenTtlSeconds: number; refreshTokenTtlSeconds: number },
  newSecret: string = generateSecret(),
): RotationPlan {
  const earlier = current.previousSecrets.filter((secret) => secret !== current.secret && secret !== newSecret)
  const list = (...secrets: string[]) => secrets.join(',')
  return {
    newSecret,
    steps: [
      {
        purpose: 'every replica accepts the new key; all still sign with the current one',
        settings: { JWT_SECRET: current.secret, JWT_PREVIOUS_SECRETS: list(newSecret, ...earlier) },
        waitSeconds: 0,
      },
      {
        purpose: 'every replica signs with the new key and still accepts the current one',
        settings: { JWT_SECRET: newSecret, JWT_PREVIOUS_SECRETS: list(current.secret, ...earlier) },
        waitSeconds: 0,
      },
      {
        purpose: 'the old keys are dropped: nothing signed or MACed with them is still alive',
        settings: { JWT_SECRET: newSecret, JWT_PREVIOUS_SECRETS: '' },
        waitSeconds: Math.max(lifetimes.refreshTokenTtlSeconds, lifetimes.accessTokenTtlSeconds),
      },
    ],
  }
}

/** The plan as the operator reads it: what to set, in which order, on which replicas. */
export function describeRotationPlan(plan: RotationPlan, { secretFromFile }: { secretFromFile: boolean }): string {
  const [first, second, third] = plan.steps
  const settingLines = ({ JWT_SECRET, JWT_PREVIOUS_SECRETS }: KeySettings) => [
    `     JWT_SECRET=${JWT_SECRET}`,
    JWT_PREVIOUS_SECRETS === ''
      ? '     JWT_PREVIOUS_SECRETS=   (unset it)'
      : `     JWT_PREVIOUS_SECRETS=${JWT_PREVIOUS_SECRETS}`,
  ]
  return [
    `New secret: ${plan.newSecret}`,
    '',
    'Deploy it in three steps. Each step must be live on EVERY bank and EVERY retirement replica before the next one',
    'starts: a replica must never sign with a key that another replica does not accept yet.',
    '',
    `1) Now: ${first.purpose}.`,
    ...settingLines(first.settings),
    `2) Once step 1 is live everywhere: ${second.purpose}.`,
    ...settingLines(second.settings),
    `3) ${third.waitSeconds} s (${formatDuration(third.waitSeconds)}, REFRESH_TOKEN_TTL) after step 2 is live everywhere: ${third.purpose}.`,
    ...settingLines(third.settings),
    '',
    ...(secretFromFile
      ? [
          'The current key was read from JWT_SECRET_FILE: JWT_SECRET above is what goes where that file comes from',
          '(under Docker Compose: JWT_SECRET in .env, which init-secret writes into the file).',
        ]
      : []),
    'If the current key has leaked, do not wait: set step 3 everywhere at once. Access tokens signed with the old key',
    'are refused from then on; clients refresh (refresh tokens are found by their hash) and get tokens of the new key.',
    'Keep this output out of logs and tickets: it holds both keys.',
  ].join('\n')
}

function formatDuration(seconds: number): string {
  if (seconds >= 86_400 && seconds % 3600 === 0) return `${+(seconds / 86_400).toFixed(2)} days`
  if (seconds >= 3600) return `${+(seconds / 3600).toFixed(2)} hours`
  return `${+(seconds / 60).toFixed(2)} minutes`
}
