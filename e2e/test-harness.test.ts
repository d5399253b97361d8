// The test run itself: a failing test must fail `vitest run` (exit code 1), with the throwaway PostgreSQL of the
// global setup started and stopped around it, as in `npm test`. CI trusts this exit code and nothing else.
import { spawn } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
// Inside the repository (git-ignored), so the config resolves vitest from its node_modules.
const folder = join(repoRoot, 'e2e', 'artifacts', `harness-${process.pid}`)
afterAll(() => rmSync(folder, { recursive: true, force: true }))

function runVitest(testSource: string): Promise<{ exitCode: number | null; output: string }> {
  mkdirSync(folder, { recursive: true })
  writeFileSync(join(folder, 'subject.test.ts'), testSource)
  writeFileSync(
    join(folder, 'vitest.config.ts'),
    `import { defineConfig } from 'vitest/config'
export default defineConfig({
  test: {
    root: ${JSON.stringify(folder)},
    include: ['subject.test.ts'],
    globalSetup: [${JSON.stringify(join(repoRoot, 'e2e', 'support', 'postgres-global-setup.ts'))}],
  },
})
`,
  )
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--config', join(folder, 'vitest.config.ts')],
    { cwd: repoRoot, env: { PATH: process.env.PATH, CI: process.env.CI }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  return new Promise((resolve) =>
    child.on('close', (exitCode) => {
      clearTimeout(timer)
      resolve({ exitCode, output })
    }),
  )
}

describe('vitest run with the PostgreSQL global setup', () => {
  it('exits 1 when a test fails, and 0 when none does', async () => {
    const failing = await runVitest(`import { expect, it } from 'vitest'\nit('fails', () => expect(1).toBe(2))\n`)
    expect(failing.exitCode, failing.output).toBe(1)
    const passing = await runVitest(`import { expect, it } from 'vitest'\nit('passes', () => expect(1).toBe(1))\n`)
    expect(passing.exitCode, passing.output).toBe(0)
  })
})
