import { describe, expect, it } from 'vitest'
import { isCanonicalBase64Url, isCanonicalCompactJws } from './canonical-jws.js'

describe('isCanonicalBase64Url', () => {
  it('accepts what Node encodes, for every length of input', () => {
    for (let length = 0; length < 40; length++) {
      const encoded = Buffer.alloc(length, 0xa7).toString('base64url')
      expect(isCanonicalBase64Url(encoded), encoded).toBe(true)
    }
  })

  it.each([
    ['spare bits set (2 left over)', 'QR'], // 'Q' = 0x41 is QQ; R sets a spare bit
    ['spare bits set (3 left over)', 'QUF'], // 'AA' is QUE
    ['padding', 'QQ=='],
    ['the standard alphabet', 'a+/b'],
    ['a length no bytes can have', 'QUFBQ'],
    ['white space', 'QU E'],
  ])('refuses %s', (_name, segment) => {
    expect(isCanonicalBase64Url(segment)).toBe(false)
  })
})

describe('isCanonicalCompactJws', () => {
  it('wants exactly three canonical segments', () => {
    expect(isCanonicalCompactJws('QQ.QUE.')).toBe(true)
    expect(isCanonicalCompactJws('QQ.QUE')).toBe(false)
    expect(isCanonicalCompactJws('QQ.QUE.QQ.QQ')).toBe(false)
    expect(isCanonicalCompactJws('QQ.QUF.QQ')).toBe(false)
  })
})
