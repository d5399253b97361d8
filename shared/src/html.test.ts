import { describe, expect, it } from 'vitest'
import { formatCents, html, renderPage } from './html.js'

describe('html', () => {
  it('escapes every interpolated value', () => {
    const name = `<script>alert("x")</script>&'`
    expect(html`<p title="${name}">${name}</p>`.value).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</p>',
    )
  })

  it('nests safe fragments and lists without escaping them twice', () => {
    const items = ['a<b', 'c'].map((item) => html`<li>${item}</li>`)
    expect(html`<ul>${items}</ul>`.value).toBe('<ul><li>a&lt;b</li><li>c</li></ul>')
  })

  it('renders nothing for null, undefined and false', () => {
    expect(html`[${null}${undefined}${false}]`.value).toBe('[]')
  })

  it('escapes the page title', () => {
    expect(renderPage('<b>', html``)).toContain('<title>&lt;b&gt;</title>')
  })
})

describe('formatCents', () => {
  it.each([
    [0, '$0.00'],
    [5, '$0.05'],
    [123456, '$1,234.56'],
    [-250, '-$2.50'],
    [100000000, '$1,000,000.00'],
  ])('formats %i as %s', (cents, text) => {
    expect(formatCents(cents)).toBe(text)
  })
})
