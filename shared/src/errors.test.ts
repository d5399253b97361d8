import { describe, expect, it } from 'vitest'
import * as catalogue from './errors.js'
import * as shared from './index.js'

/** Every error class the catalogue exports, each built once, as a throw site would. */
function catalogueErrors(module: Record<string, unknown>): Array<{ name: string; code: unknown }> {
  return Object.entries(module)
    .filter(([name, value]) => typeof value === 'function' && /Error$/.test(name))
    .map(([name, ErrorClass]) => {
      const error = new (ErrorClass as new (...args: string[]) => Error & { code?: unknown })('x', 'y')
      return { name, code: error.code }
    })
}

describe('the error catalogue', () => {
  it('gives every error a code of its own', () => {
    const errors = catalogueErrors(catalogue)
    expect(errors.length).toBeGreaterThan(10)
    const names = new Map<unknown, string[]>()
    for (const { name, code } of errors) names.set(code, [...(names.get(code) ?? []), name])
    const shared = [...names].filter(([, owners]) => owners.length > 1)
    expect(shared).toEqual([])
  })

  it('gives every error an SSO_ code', () => {
    for (const { name, code } of catalogueErrors(catalogue)) expect(code, name).toMatch(/^SSO_[A-Z_]+$/)
  })

  it('is the only place @sso/shared exports an error from', () => {
    const outside = catalogueErrors(shared).filter(({ name }) => !Object.hasOwn(catalogue, name))
    expect(outside).toEqual([])
  })
})
