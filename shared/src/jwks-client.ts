import type { FastifyBaseLogger } from 'fastify'
import { Counter, Gauge, type Registry } from 'prom-client'
import { createVerifyingKeyring, importPublicJwk, type Keyring, type VerificationKey } from './keyring.js'

// Retirement's copy of the bank's published public keys (a key-pair mode). Written here rather than with a JWKS
// library: the one JWT library the project allows (fast-jwt, under @fastify/jwt) fetches no keys, and the rules
// that matter are ours to state in one place: fetched at start, again for an unknown `kid` at most once per
// 30 s however many tokens ask, at least every 10 minutes, a bounded answer, and the last good keys kept while the
// bank cannot be reached. Nothing here ever follows a URL a token names (`jku`, `x5u`): the URL is configuration.

/** A `kid` we do not know makes us ask the bank again at most this often, however many tokens name one. */
export const UNKNOWN_KID_REFETCH_INTERVAL_MS = 30_000
/** Keys are fetched again this often even if nothing asks: a retired key leaves, a published next one arrives. */
export const JWKS_REFRESH_INTERVAL_MS = 5 * 60_000
/** A key set of a few keys is under 2 KB; anything over this is not the bank's, and is not read further. */
export const MAX_JWKS_BYTES = 64 * 1024
/** More keys than any rotation needs (signing, next, retired) is refused as a whole, like an oversized answer. */
const MAX_JWKS_KEYS = 20
const FETCH_TIMEOUT_MS = 5_000
/** Until the first success, how long to wait before trying again (doubling up to the unknown-kid interval). */
const FIRST_RETRY_MS = 500

/** Why a fetch failed, as a metric label. */
export type JwksFetchOutcome = 'ok' | 'unreachable' | 'http_error' | 'too_large' | 'invalid'

export interface JwksClientOptions {
  url: string
  /** HS256 secrets of a migration (`JWT_PREVIOUS_SECRETS`): verify only, beside the fetched keys. */
  previousSecretKeys?: readonly VerificationKey[]
  log: FastifyBaseLogger
  registry: Registry
  /** Tests shorten these; a deployment uses the defaults. */
  unknownKidRefetchIntervalMs?: number
  refreshIntervalMs?: number
}

/** A remote key set: its keyring, readiness and lifecycle. */
export interface JwksClient {
  keyring: Keyring
  /** Fetches at once, then keeps trying until it has keys, then refreshes on a timer. */
  start(): void
  stop(): void
  /** Why the keys are not usable yet (none fetched so far), for `/readyz`; undefined once there are keys. */
  notReadyReason(): string | undefined
}

class JwksFetchError extends Error {
  constructor(readonly outcome: Exclude<JwksFetchOutcome, 'ok'>) {
    super(`the bank's keys could not be fetched (${outcome})`)
  }
}

/** The body, read no further than `maxBytes`: an endless answer costs at most that much memory. */
async function readBounded(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0)
  if (declared > maxBytes) throw new JwksFetchError('too_large')
  const reader = response.body?.getReader()
  if (!reader) return ''
  const chunks: Uint8Array[] = []
  let bytes = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    bytes += value.byteLength
    if (bytes > maxBytes) {
      await reader.cancel()
      throw new JwksFetchError('too_large')
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** The usable keys of a JWKS document; keys we do not use (other types, private members, a wrong kid) are skipped. */
function parseJwks(text: string): VerificationKey[] {
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch {
    throw new JwksFetchError('invalid')
  }
  const keys = (document as { keys?: unknown })?.keys
  if (!Array.isArray(keys) || keys.length > MAX_JWKS_KEYS) throw new JwksFetchError('invalid')
  const usable = keys.map(importPublicJwk).filter((key) => key !== undefined)
  if (usable.length === 0) throw new JwksFetchError('invalid')
  return usable
}

/** Fetches and keeps the bank's public keys; see the rules at the top of this file. */
export function createJwksClient(options: JwksClientOptions): JwksClient {
  const { url, previousSecretKeys = [], log } = options
  const unknownKidRefetchIntervalMs = options.unknownKidRefetchIntervalMs ?? UNKNOWN_KID_REFETCH_INTERVAL_MS
  const refreshIntervalMs = options.refreshIntervalMs ?? JWKS_REFRESH_INTERVAL_MS
  const fetches = new Counter({
    name: 'sso_jwks_fetches_total',
    help: "Fetches of the bank's published keys (JWKS), by outcome",
    labelNames: ['outcome'] as const,
    registers: [options.registry],
  })
  const keysHeld = new Gauge({
    name: 'sso_jwks_keys_held',
    help: "The bank's public keys held for verifying tokens",
    registers: [options.registry],
  })

  let keys: VerificationKey[] | undefined
  let keyring = createVerifyingKeyring(previousSecretKeys, findUnknownKey)
  let inFlight: Promise<void> | undefined
  let lastAttemptAtMs = Number.NEGATIVE_INFINITY
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  async function fetchOnce(): Promise<void> {
    lastAttemptAtMs = Date.now()
    try {
      let response: Response
      try {
        response = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) })
      } catch {
        throw new JwksFetchError('unreachable')
      }
      if (!response.ok) {
        await response.body?.cancel()
        throw new JwksFetchError('http_error')
      }
      keys = parseJwks(await readBounded(response, MAX_JWKS_BYTES))
      keyring = createVerifyingKeyring([...previousSecretKeys, ...keys], findUnknownKey)
      keysHeld.set(keys.length)
      fetches.inc({ outcome: 'ok' })
    } catch (error) {
      const outcome = error instanceof JwksFetchError ? error.outcome : 'invalid'
      fetches.inc({ outcome })
      // The keys we had stay: tokens they signed keep working while the bank is away.
      log.warn({ outcome, keysHeld: keys?.length ?? 0 }, "fetching the bank's keys failed")
    }
  }

  /** One fetch at a time; everyone who asks while it runs waits for that one. */
  function fetchShared(): Promise<void> {
    inFlight ??= fetchOnce().finally(() => {
      inFlight = undefined
    })
    return inFlight
  }

  async function findUnknownKey(kid: string): Promise<VerificationKey | undefined> {
    if (!inFlight && Date.now() - lastAttemptAtMs < unknownKidRefetchIntervalMs) return undefined
    await fetchShared()
    return keyring.findVerificationKey(kid)
  }

  function schedule(delayMs: number) {
    if (stopped) return
    timer = setTimeout(async () => {
      await fetchShared()
      schedule(keys ? refreshIntervalMs : Math.min(delayMs * 2, unknownKidRefetchIntervalMs))
    }, delayMs)
    timer.unref()
  }

  return {
    // Each fetch builds a new ring; this one always asks the current one.
    keyring: { findVerificationKey: (kid) => keyring.findVerificationKey(kid), findUnknownKey },
    start() {
      fetchShared().then(() => schedule(keys ? refreshIntervalMs : FIRST_RETRY_MS))
    },
    stop() {
      stopped = true
      clearTimeout(timer)
    },
    notReadyReason: () => (keys ? undefined : "the bank's signing keys have not been fetched yet"),
  }
}
