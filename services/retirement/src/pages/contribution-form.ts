import { formatCents } from '@sso/shared'
import { MAX_CONTRIBUTION_CENTS } from '../plans/plans-repository.js'

export type ParsedContribution = { amountCents: number } | { error: string }

// Whole dollars with at most two decimals; no signs, exponents, separators or spaces, so nothing is guessed at.
const DOLLARS_PATTERN = /^(\d{1,9})(?:\.(\d{1,2}))?$/

/**
 * Reads the form's `amount` (dollars, as people type them) into integer cents without floating point. A scripted
 * client may send `amountCents` instead, as the JSON API takes it.
 */
export function parseContributionForm(body: unknown): ParsedContribution {
  const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>
  let amountCents: number
  if (typeof fields.amountCents === 'string' && fields.amount === undefined) {
    if (!/^\d{1,9}$/.test(fields.amountCents)) return { error: 'Enter the amount in cents as a whole number.' }
    amountCents = Number(fields.amountCents)
  } else {
    const match = typeof fields.amount === 'string' ? DOLLARS_PATTERN.exec(fields.amount) : null
    if (!match) return { error: 'Enter an amount in dollars, such as 100 or 12.50.' }
    amountCents = Number(match[1]) * 100 + Number((match[2] ?? '0').padEnd(2, '0'))
  }
  if (amountCents < 1 || amountCents > MAX_CONTRIBUTION_CENTS) {
    return { error: `Enter an amount from $0.01 to ${formatCents(MAX_CONTRIBUTION_CENTS)}.` }
  }
  return { amountCents }
}
