import { describe, expect, it } from 'vitest'
import { createRefreshTokens } from './refresh-token.js'

const current = 'the current secret: 32 bytes or more, for tests'
const previous = 'the previous secret: 32 bytes or more, for tests'
const sessionId = '0b7e3f0e-6a53-4d4b-9c57-2f1c7d1b9a10'

describe('refresh tokens', () => {
  const tokens = createRefreshTokens([current, previous])

  it('name their session and generation, carry 256 random bits and verify as issued by the bank', () => {
    const token = tokens.issue(sessionId, 7)
    const presented = tokens.parse(token)
    expect(presented?.family).toMatchObject({ sessionId, generation: 7 })
    expect(presented && tokens.isGenuine(presented)).toBe(true)
    expect(tokens.issue(sessionId, 7)).not.toBe(token)
  })

  it('do not verify once altered, nor under another key, but do under a previous key after a rotation', () => {
    const token = tokens.issue(sessionId, 3)
    const altered = [token.replace('.3.', '.2.'), token.replace(sessionId, sessionId.replace('0b7e', '0b7f'))]
    for (const candidate of altered) {
      const presented = tokens.parse(candidate)
      expect(presented && tokens.isGenuine(presented)).toBe(false)
    }
    const rotated = createRefreshTokens(['a newer secret: 32 bytes or more, for tests', current])
    const stranger = createRefreshTokens(['someone else entirely: 32 bytes or more'])
    const presented = tokens.parse(token)
    expect(presented && rotated.isGenuine(presented)).toBe(true)
    expect(presented && stranger.isGenuine(presented)).toBe(false)
  })

  it('refuse shapes they never take, and read the earlier 43-character format as one without a family', () => {
    for (const malformed of ['', 'not a token', `${sessionId}.01.${'A'.repeat(43)}.${'A'.repeat(22)}`]) {
      expect(tokens.parse(malformed)).toBeUndefined()
    }
    expect(tokens.parse('A'.repeat(43))?.family).toBeUndefined()
  })

  it('seal a successor that only the predecessor opens, for the same session and generation', () => {
    const predecessor = tokens.issue(sessionId, 4)
    const successor = tokens.issue(sessionId, 5)
    const box = tokens.sealSuccessor(predecessor, successor, sessionId, 5)
    expect(box.toString('latin1')).not.toContain(successor)
    expect(tokens.openSuccessor(predecessor, box, sessionId, 5)).toBe(successor)
    expect(tokens.openSuccessor(successor, box, sessionId, 5)).toBeUndefined()
    expect(tokens.openSuccessor(predecessor, box, sessionId, 6)).toBeUndefined()
    expect(tokens.openSuccessor(predecessor, Buffer.alloc(40), sessionId, 5)).toBeUndefined()
  })
})
