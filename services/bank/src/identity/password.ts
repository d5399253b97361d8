import { randomBytes } from 'node:crypto'
import argon2 from 'argon2'
import type { WorkLimiter } from './work-limiter.js'

// OWASP Password Storage Cheat Sheet, first argon2id option: 19 MiB of memory, 2 iterations, 1 lane.
const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

/**
 * A hash no password matches (made from random bytes nobody keeps), with the same parameters as real ones:
 * verifying against it for an unknown username costs the same argon2 work as a wrong password, so response
 * time does not reveal which usernames exist.
 */
export const UNUSABLE_HASH = await argon2.hash(randomBytes(32), ARGON2_OPTIONS)

/** argon2id hashing and verification, with the expensive part bounded by a shared limiter. */
export function createPasswordHasher(limiter: WorkLimiter) {
  return {
    /** `password` is already NFKC-normalised and checked against the password rules. */
    hash: (password: string) => limiter.run(() => argon2.hash(password, ARGON2_OPTIONS)),
    verify: (passwordHash: string, password: string) => limiter.run(() => argon2.verify(passwordHash, password)),
  }
}
export type PasswordHasher = ReturnType<typeof createPasswordHasher>
