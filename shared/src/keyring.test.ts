import { describe, expect, it } from 'vitest'
import { createKeyring, deriveKeyId, readJoseHeader } from './keyring.js'

const CURRENT = 'current-secret-0123456789-abcdefghijklmnopqrstuv'
const PREVIOUS = 'previous-secret-0123456789-abcdefghijklmnopqrstu'

describe('keyring', () => {
  it('derives the same short, URL-safe kid from the same key, and different kids from different keys', () => {
    expect(deriveKeyId(CURRENT)).toBe(deriveKeyId(CURRENT))
    expect(deriveKeyId(CURRENT)).toMatch(/^[A-Za-z0-9_-]{16}$/)
    expect(deriveKeyId(CURRENT)).not.toBe(deriveKeyId(PREVIOUS))
  })

  it('does not reveal the key in its kid', () => {
    expect(CURRENT).not.toContain(deriveKeyId(CURRENT))
  })

  it('signs with the current key and verifies with current and previous keys by kid only', () => {
    const keyring = createKeyring(CURRENT, [PREVIOUS])
    expect(keyring.signingKey?.key).toBe(CURRENT)
    expect(keyring.findVerificationKey(deriveKeyId(CURRENT))?.key).toBe(CURRENT)
    expect(keyring.findVerificationKey(deriveKeyId(PREVIOUS))?.key).toBe(PREVIOUS)
    expect(keyring.findVerificationKey('unknown')).toBeUndefined()
    expect(keyring.findVerificationKey(undefined)).toBeUndefined()
    expect(keyring.findVerificationKey({ toString: () => deriveKeyId(CURRENT) })).toBeUndefined()
  })
})

describe('readJoseHeader', () => {
  it('reads the header segment alone, and nothing from a malformed token', () => {
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'abc' })).toString('base64url')
    expect(readJoseHeader(`${header}.payload.signature`)?.kid).toBe('abc')
    expect(readJoseHeader('.payload.signature')).toBeUndefined()
    expect(readJoseHeader('not-base64-json.x.y')).toBeUndefined()
    expect(readJoseHeader(`${Buffer.from('null').toString('base64url')}.x.y`)).toBeUndefined()
  })
})
