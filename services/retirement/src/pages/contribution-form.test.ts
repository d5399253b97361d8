import { describe, expect, it } from 'vitest'
import { parseContributionForm } from './contribution-form.js'

describe('parseContributionForm', () => {
  it.each([
    ['100', 10_000],
    ['12.5', 1250],
    ['12.50', 1250],
    ['0.01', 1],
    ['1000000', 100_000_000],
  ])('reads %s dollars as %i cents', (amount, amountCents) => {
    expect(parseContributionForm({ amount })).toEqual({ amountCents })
  })

  it.each(['', '0', '0.00', '-5', '1.005', '1e3', ' 5', '5 ', '1,000', '1000000.01', 'abc', '$5'])(
    'refuses %j',
    (amount) => {
      expect(parseContributionForm({ amount })).toHaveProperty('error')
    },
  )

  it('refuses a missing or repeated field', () => {
    expect(parseContributionForm({})).toHaveProperty('error')
    expect(parseContributionForm(undefined)).toHaveProperty('error')
    expect(parseContributionForm({ amount: ['1', '2'] })).toHaveProperty('error')
  })

  it('takes amountCents as the JSON API does, within the same bounds', () => {
    expect(parseContributionForm({ amountCents: '4200' })).toEqual({ amountCents: 4200 })
    expect(parseContributionForm({ amountCents: '0' })).toHaveProperty('error')
    expect(parseContributionForm({ amountCents: '1.5' })).toHaveProperty('error')
    expect(parseContributionForm({ amountCents: '100000001' })).toHaveProperty('error')
  })
})
