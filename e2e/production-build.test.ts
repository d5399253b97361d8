// The test helpers of @sso/shared/testing forge tokens with any key: they must never ship. The production build of
// shared leaves the folder out, nothing it compiles imports it, and the image copies only the build.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc')

/** Every file the production build of a project compiles, as tsc lists them. */
function productionBuildFiles(project: string): string[] {
  const listed = execFileSync(process.execPath, [tsc, '-p', join(repoRoot, project), '--listFilesOnly'], {
    encoding: 'utf8',
  })
  return listed.split('\n').filter((file) => file.startsWith(repoRoot) && !file.includes('/node_modules/'))
}

describe('the production build', () => {
  it.each([
    ['shared', 'shared/src/index.ts'],
    ['services/bank', 'services/bank/src/app.ts'],
    ['services/retirement', 'services/retirement/src/app.ts'],
  ])('of %s compiles nothing from shared/src/testing', (project, entry) => {
    const files = productionBuildFiles(project)
    expect(files).toContain(join(repoRoot, entry))
    expect(files.filter((file) => /\/shared\/(src|dist)\/testing\//.test(file))).toEqual([])
  })

  it('reaches the runtime image only as shared/dist, never shared/src', () => {
    const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')
    const runtimeStage = dockerfile.slice(dockerfile.indexOf('AS runtime'))
    expect(runtimeStage).toContain('COPY --from=build /app/shared/dist shared/dist')
    expect(runtimeStage).not.toMatch(/shared\/src/)
  })
})
