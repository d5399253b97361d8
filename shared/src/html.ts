const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Markup that is already safe: produced by {@link html}, never by concatenating user input. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString() {
    return this.value
  }
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character)
}

/**
 * Tagged template for pages: every interpolated value is escaped unless it is itself {@link SafeHtml}, so forgetting
 * to escape is impossible rather than merely unlikely. Arrays are joined, null/undefined/false render nothing.
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? ''
  values.forEach((value, index) => {
    out += renderValue(value) + (strings[index + 1] ?? '')
  })
  return new SafeHtml(out)
}

function renderValue(value: unknown): string {
  if (value instanceof SafeHtml) return value.value
  if (Array.isArray(value)) return value.map(renderValue).join('')
  if (value === null || value === undefined || value === false) return ''
  return escapeHtml(String(value))
}

/** The one stylesheet both apps serve at `/assets/app.css`; a file, not inline, so the CSP can forbid inline style. */
export const STYLESHEET = `
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { max-width: 40rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5; }
header { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; }
form { display: grid; gap: .75rem; margin: 1rem 0; }
form.inline { display: inline; margin: 0; }
label { display: grid; gap: .25rem; }
input, button { font: inherit; padding: .5rem .75rem; }
button { cursor: pointer; }
table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; padding: .4rem; border-bottom: 1px solid #8884; }
td.amount, th.amount { text-align: right; font-variant-numeric: tabular-nums; }
.error { color: #b00020; border: 1px solid currentColor; padding: .5rem .75rem; }
.muted { opacity: .7; }
`

/** A whole page around a body; the title is escaped like everything else. */
export function renderPage(title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="stylesheet" href="/assets/app.css">
</head>
<body>
${body}
</body>
</html>
`.value
}

/** Formats integer cents as dollars, e.g. 123456 → "$1,234.56", without floating-point surprises. */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? '-' : ''
  const absolute = Math.abs(cents)
  const dollars = Math.floor(absolute / 100).toLocaleString('en-US')
  return `${sign}$${dollars}.${String(absolute % 100).padStart(2, '0')}`
}
