import { describe, expect, it } from 'vitest'
import { resolveReturnTo } from './return-to.js'

const publicUrls = { bank: 'http://localhost:3000', retirement: 'http://localhost:3001' }

describe('resolveReturnTo', () => {
  it.each([
    ['/', '/'],
    ['/accounts?tab=savings#top', '/accounts?tab=savings#top'],
    ['/a path with spaces', '/a%20path%20with%20spaces'],
    ['http://localhost:3001/', 'http://localhost:3001/'],
    ['http://localhost:3001/plan?x=1', 'http://localhost:3001/plan?x=1'],
    ['HTTP://LOCALHOST:3001/plan', 'http://localhost:3001/plan'],
    ['http://localhost:3000/', 'http://localhost:3000/'],
  ])('follows %s', (value, expected) => {
    expect(resolveReturnTo(value, publicUrls)).toBe(expected)
  })

  it.each([
    ['another host', 'https://evil.example/'],
    ['a scheme-relative URL', '//evil.example/'],
    ['a dot segment hiding a scheme-relative URL', '/.//evil.example/x'],
    ['a parent segment hiding a scheme-relative URL', '/foo/..//evil.example'],
    ['an encoded dot segment hiding a scheme-relative URL', '/%2e//evil.example'],
    ['a backslash after the slash', '/\\evil.example'],
    ['a backslash anywhere', '/ok\\..\\evil'],
    ['a tab inside a scheme-relative URL', '/\t/evil.example'],
    ['a newline', '/ok\nLocation: https://evil.example'],
    ['a NUL', '/ok\u0000'],
    ['the retirement host on another port', 'http://localhost:3002/'],
    ['the retirement host over another scheme', 'https://localhost:3001/'],
    ['a look-alike host', 'http://localhost:3001.evil.example/'],
    ['credentials before the host', 'http://localhost:3001@evil.example/'],
    ['credentials on an allowed origin', 'http://user:pass@localhost:3001/'],
    ['a javascript: URL', 'javascript:alert(1)'],
    ['a data: URL', 'data:text/html,<script>alert(1)</script>'],
    ['a scheme without slashes', 'http:evil.example'],
    ['a relative path', 'evil.example'],
    ['a leading space', ' http://localhost:3001/'],
    ['an empty value', ''],
    ['a huge value', `/${'a'.repeat(3000)}`],
  ])('falls back to / for %s', (_case, value) => {
    expect(resolveReturnTo(value, publicUrls)).toBe('/')
  })

  it('falls back to / for a value that is not a string (a repeated query parameter)', () => {
    expect(resolveReturnTo(['/a', '/b'], publicUrls)).toBe('/')
    expect(resolveReturnTo(undefined, publicUrls)).toBe('/')
  })
})
