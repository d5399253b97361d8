// Dependency floors (ASVS V14.2.1): versions below these have published flaws in what this project
// relies on — fast-jwt < 6.3.1 and fastify < 5.8.3 — and one JWT library means one set of parsing rules (RFC 8725
// §2 lists the bugs that come from two disagreeing). Read from the lock file, which `npm ci` installs exactly, and
// from what is actually installed, without running npm.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

interface LockEntry {
  version?: string
  link?: boolean
  dependencies?: Record<string, string>
}
const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as {
  lockfileVersion: number
  packages: Record<string, LockEntry>
}

/** Every copy of a package in the lock file (hoisted or nested), as [path, version]. */
function lockedCopies(name: string): Array<[string, string]> {
  return Object.entries(lock.packages)
    .filter(
      ([path, entry]) => (path === `node_modules/${name}` || path.endsWith(`/node_modules/${name}`)) && !entry.link,
    )
    .map(([path, entry]) => [path, entry.version ?? ''])
}

/** Every package name anywhere in the tree. */
const allNames = new Set(
  Object.keys(lock.packages)
    .filter((path) => path.includes('node_modules/'))
    .map((path) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)),
)

/** Numeric comparison of x.y.z versions (pre-release tags count as below the release). */
function compareVersions(a: string, b: string): number {
  const parse = (version: string) => {
    const [core = '', pre] = version.split('-', 2)
    return { parts: core.split('.').map(Number), pre }
  }
  const left = parse(a)
  const right = parse(b)
  for (let index = 0; index < 3; index++) {
    const difference = (left.parts[index] ?? 0) - (right.parts[index] ?? 0)
    if (difference !== 0) return difference
  }
  if (left.pre && !right.pre) return -1
  if (!left.pre && right.pre) return 1
  return 0
}

/** The lowest version a caret, tilde or >= range admits. */
function rangeMinimum(range: string): string {
  return /^(?:[\^~]|>=\s*)?(\d+\.\d+\.\d+(?:-[\w.]+)?)/.exec(range.trim())?.[1] ?? '0.0.0'
}

const floors: Array<[name: string, floor: string, belowMajor: number]> = [
  ['fastify', '5.8.3', 6],
  ['fast-jwt', '6.3.1', 7],
  ['@fastify/cookie', '11.0.0', 12],
  ['@fastify/jwt', '10.0.0', 11],
]

// Any of these next to fast-jwt would be a second set of JWT parsing and verification rules.
const OTHER_JWT_LIBRARIES = [
  'jsonwebtoken',
  'jose',
  'jws',
  'jwa',
  'njwt',
  'jwt-simple',
  'jsrsasign',
  'node-jose',
  'jwt-decode',
  'jose-node-cjs-runtime',
  '@panva/jose',
  'passport-jwt',
  'express-jwt',
  'koa-jwt',
  '@hapi/jwt',
  'jsontokens',
  'paseto',
]

describe('the lock file', () => {
  it('is a v3 lock file with the whole tree in it (the checks below see every copy)', () => {
    expect(lock.lockfileVersion).toBeGreaterThanOrEqual(2)
    expect(Object.keys(lock.packages).length).toBeGreaterThan(50)
  })

  it.each(floors)('holds %s at or above %s, below major %i, in every copy', (name, floor, belowMajor) => {
    const copies = lockedCopies(name)
    expect(copies.length, `${name} is in the tree`).toBeGreaterThan(0)
    for (const [path, version] of copies) {
      expect(compareVersions(version, floor), `${path}@${version} >= ${floor}`).toBeGreaterThanOrEqual(0)
      expect(compareVersions(version, `${belowMajor}.0.0`), `${path}@${version} < ${belowMajor}`).toBeLessThan(0)
    }
  })

  it('reaches fast-jwt only through @fastify/jwt, whose range cannot fall below the floor', () => {
    const dependents = Object.entries(lock.packages)
      .filter(([, entry]) => entry.dependencies?.['fast-jwt'] !== undefined)
      .map(([path, entry]) => [path, entry.dependencies?.['fast-jwt'] ?? ''] as const)
    expect(dependents.map(([path]) => path)).toEqual(['node_modules/@fastify/jwt'])
    for (const [, range] of dependents) expect(compareVersions(rangeMinimum(range), '6.3.1')).toBeGreaterThanOrEqual(0)
  })

  it('declares every direct floor in the workspaces, so a fresh resolve cannot go below it either', () => {
    const declared = Object.entries(lock.packages)
      .filter(([path]) => !path.includes('node_modules/'))
      .flatMap(([path, entry]) => {
        const { dependencies = {}, peerDependencies = {} } = entry as LockEntry & {
          peerDependencies?: Record<string, string>
        }
        return Object.entries({ ...dependencies, ...peerDependencies }).map(([name, range]) => ({ path, name, range }))
      })
    for (const [name, floor] of floors) {
      for (const { path, range } of declared.filter((entry) => entry.name === name)) {
        expect(compareVersions(rangeMinimum(range), floor), `${path}: ${name}@${range}`).toBeGreaterThanOrEqual(0)
      }
    }
  })

  it('holds no second JWT library anywhere in the tree', () => {
    expect(OTHER_JWT_LIBRARIES.filter((name) => allNames.has(name))).toEqual([])
  })
})

describe('what is installed', () => {
  it.each(floors)('installs %s at or above %s', (name, floor, belowMajor) => {
    const manifest = join(repoRoot, 'node_modules', name, 'package.json')
    expect(existsSync(manifest), `${name} installed`).toBe(true)
    const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }
    expect(compareVersions(version, floor)).toBeGreaterThanOrEqual(0)
    expect(compareVersions(version, `${belowMajor}.0.0`)).toBeLessThan(0)
    // The lock file and node_modules agree: a stale install would test one tree and ship another.
    expect(version).toBe(lock.packages[`node_modules/${name}`]?.version)
  })

  it('has no second JWT library installed at the top level', () => {
    expect(OTHER_JWT_LIBRARIES.filter((name) => existsSync(join(repoRoot, 'node_modules', name)))).toEqual([])
  })
})

describe('the version check itself', () => {
  it.each([
    ['^6.3.4', '6.3.4'],
    ['~5.8.3', '5.8.3'],
    ['>=5.8.3', '5.8.3'],
    ['*', '0.0.0'],
  ])('reads the lowest version of %s as %s', (range, minimum) => {
    expect(rangeMinimum(range)).toBe(minimum)
  })

  it.each([
    ['5.8.3', '5.8.3', 0],
    ['5.8.2', '5.8.3', -1],
    ['5.10.0', '5.8.3', 1],
    ['6.3.1-beta.1', '6.3.1', -1],
    ['6.3.6', '6.3.1', 1],
  ])('compares %s with %s', (a, b, sign) => {
    expect(Math.sign(compareVersions(a, b))).toBe(sign)
  })
})
