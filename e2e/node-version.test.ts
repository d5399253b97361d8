// Every entry point a newcomer types (package.json's start, dev, test, test:unit, bench, admin) first checks the
// Node.js it runs on (scripts/require-node.sh): run for real with npm on an older Node (Debian's /usr/bin/node, 20
// here and in CI), each says in one line what is needed and how to get it, and exits 1 before doing anything else;
// on this Node (the pinned one) the check passes.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'))
const requiredVersion = String(manifest.engines.node).replace(/^>=/, '')
const entryPoints = [
  ['start', 'npm start'],
  ['dev', 'npm run dev'],
  ['test', 'npm test'],
  ['test:unit', 'npm run test:unit'],
  ['bench', 'npm run bench'],
  ['admin', 'npm run admin'],
] as const

/** Debian's nodejs package: older than the project needs, with its own npm beside it, as a newcomer has it. */
const olderNode = '/usr/bin/node'
const olderNodeVersion = existsSync(olderNode)
  ? spawnSync(olderNode, ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^v/, '')
  : ''
const olderNodeMajor = Number(olderNodeVersion.split('.')[0] || 0)
const hasOlderNode = olderNodeMajor > 0 && olderNodeMajor < 22

/** A folder whose `node` is the given binary, put first on PATH, so npm's scripts run on it. */
const binDirectories: string[] = []
function pathWithNode(node: string) {
  const directory = mkdtempSync(join(tmpdir(), 'sso-node-'))
  binDirectories.push(directory)
  symlinkSync(node, join(directory, 'node'))
  return `${directory}:${process.env.PATH}`
}
afterAll(() => {
  for (const directory of binDirectories) rmSync(directory, { recursive: true, force: true })
})

describe('package.json', () => {
  it('asks for Node.js 22.12 or later, in the one form the check reads, and every entry point checks it first', () => {
    expect(manifest.engines.node).toBe('>=22.12')
    for (const [script] of entryPoints) {
      expect(manifest.scripts[script], script).toMatch(/^sh scripts\/require-node\.sh && /)
    }
  })

  it('makes npm install and npm ci refuse an unsupported Node (engine-strict in .npmrc)', () => {
    expect(readFileSync(join(repoRoot, '.npmrc'), 'utf8')).toMatch(/^engine-strict=true$/m)
  })
})

describe('the Node.js check on an older Node', () => {
  it('has an older Node to run on', (context) => {
    // CI (Debian) has nodejs 20 as /usr/bin/node: there its absence means this check ran nowhere, a failure.
    if (!hasOlderNode && process.env.CI !== 'true') context.skip(`no Node.js older than 22 at ${olderNode}`)
    expect(
      hasOlderNode,
      `CI=true needs Debian's nodejs (older than 22) at ${olderNode}, found "${olderNodeVersion}"`,
    ).toBe(true)
  })

  it.skipIf(!hasOlderNode).each(entryPoints)(
    '%s says in one line which Node is needed and the one command that gets it, and exits 1',
    (script, command) => {
      const result = spawnSync(join(dirname(olderNode), 'npm'), ['run', '--silent', script], {
        cwd: repoRoot,
        env: { ...process.env, PATH: pathWithNode(olderNode) },
        encoding: 'utf8',
        timeout: 30_000,
      })
      expect(result.status, result.stdout + result.stderr).toBe(1)
      expect(result.stdout).toBe('')
      expect(result.stderr.trimEnd().split('\n')).toEqual([
        `bank-sso needs Node.js ${requiredVersion} or later, this is ${olderNodeVersion}: run scripts/with-node.sh ${command} (it installs the pinned Node into .tools/)`,
      ])
    },
  )
})

describe('the Node.js check on this Node', () => {
  it.each(entryPoints)('passes for %s', (script) => {
    const result = spawnSync('sh', [join(repoRoot, 'scripts/require-node.sh')], {
      cwd: repoRoot,
      env: {
        ...process.env,
        PATH: pathWithNode(process.execPath),
        npm_package_engines_node: manifest.engines.node,
        npm_lifecycle_event: script,
      },
      encoding: 'utf8',
    })
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
  })

  it('compares versions as numbers: 22.12 passes, 22.9 and 21.99 do not, 100.0 does', () => {
    const check = (version: string) => {
      const directory = mkdtempSync(join(tmpdir(), 'sso-fake-node-'))
      binDirectories.push(directory)
      // A stand-in `node` that only answers --version, so every boundary is tried without installing each Node.
      spawnSync('sh', ['-c', `printf '#!/bin/sh\\necho v${version}\\n' > node && chmod +x node`], { cwd: directory })
      return spawnSync('sh', [join(repoRoot, 'scripts/require-node.sh')], {
        env: {
          PATH: `${directory}:${process.env.PATH}`,
          npm_package_engines_node: '>=22.12',
          npm_lifecycle_event: 'dev',
        },
        encoding: 'utf8',
      }).status
    }
    expect([check('22.12.0'), check('22.13.1'), check('24.21.0'), check('100.0.0')]).toEqual([0, 0, 0, 0])
    expect([check('22.9.0'), check('21.99.0'), check('20.20.2'), check('3.0.0')]).toEqual([1, 1, 1, 1])
  })
})
