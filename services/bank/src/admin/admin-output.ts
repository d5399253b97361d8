// What the admin command prints: aligned tables for people, JSON for scripts. Some values were chosen by strangers
// (a session's User-Agent is whatever the client sent), and a terminal obeys escape sequences: ESC [ … could recolour,
// retitle or rewrite the operator's screen, and a bidi override could reorder what they read. Such characters are
// shown escaped, never written raw.

// Control (C0, DEL, C1) and format characters (bidi overrides, zero-width), line and paragraph separators.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu
const MAX_CELL_CHARACTERS = 60

/** `text` with every control or format character written as `\u{…}`. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (character) => `\\u{${character.codePointAt(0)?.toString(16)}}`)
}

/** A cell of a table: printable, and cut at 60 characters so one long value does not push every column away. */
function cell(value: string): string {
  const characters = [...printable(value)]
  return characters.length > MAX_CELL_CHARACTERS
    ? `${characters.slice(0, MAX_CELL_CHARACTERS - 1).join('')}…`
    : characters.join('')
}

/** Rows under upper-case headings, columns padded to their widest value. */
export function formatTable(headings: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const lines = [headings, ...rows].map((row) => row.map(cell))
  const widths = headings.map((_, column) => Math.max(...lines.map((line) => [...(line[column] ?? '')].length)))
  return lines
    .map((line) =>
      line
        .map((value, column) => (column === line.length - 1 ? value : value.padEnd(widths[column] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/**
 * JSON in ASCII: every character beyond it (C1 controls and bidi overrides included, which JSON.stringify leaves
 * raw) as a `\uXXXX` escape, so a script reads the same values and a terminal shows nothing it would obey.
 */
export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\u007f-\uffff]/g,
    (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/** A time for a table: ISO 8601 in UTC, to the second. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}
