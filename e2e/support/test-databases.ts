// Fresh, isolated databases for tests, on both engines: SQLite in a temp file, PostgreSQL in the test run's server
// (postgres-global-setup.ts). Every repository and route test runs on both through `describeEachEngine`.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Engine, openDatabase, type SchemaMigrations } from '@sso/shared/db'
import { afterAll, describe, inject } from 'vitest'
import { type CreatedDatabase, createDatabaseIn } from './postgres-databases.js'

/** Where a fresh database lives: what `openDatabase` (and a service's DATABASE_URL / DATABASE_PATH) takes. */
export type TestDatabaseSettings =
  | { databaseUrl: string; databasePath?: undefined }
  | { databasePath: string; databaseUrl?: undefined }

/** One engine under test, handing out empty databases that are removed after the suite. */
export interface TestEngine {
  name: Engine
  /**
   * An empty database no other test sees. Open it as often as needed (several openers play several replicas).
   * With `migrations`, it already has that schema: on PostgreSQL a copy of a template migrated once per suite
   * (`CREATE DATABASE … TEMPLATE`, ~0.1 s instead of ~0.5 s of DDL per test); opening it still runs the migrator,
   * which finds nothing left to do.
   */
  createDatabase(migrations?: SchemaMigrations): Promise<TestDatabaseSettings>
}

/** A new, empty PostgreSQL database in the test run's server. `drop()` removes it, closing whoever is still in it. */
export async function createTestDatabase(options: { template?: string } = {}): Promise<CreatedDatabase> {
  return createDatabaseIn(requirePostgres(), options)
}

/**
 * Runs the same suite on SQLite and on PostgreSQL: `describe('<name> on sqlite')` and `describe('<name> on postgres')`.
 * Databases the body creates are removed after its suite.
 */
export function describeEachEngine(name: string, body: (engine: TestEngine) => void): void {
  describe(`${name} on sqlite`, () => {
    const folders: string[] = []
    afterAll(() => {
      for (const folder of folders) rmSync(folder, { recursive: true, force: true })
    })
    body({
      name: 'sqlite',
      createDatabase: async () => {
        const folder = mkdtempSync(join(tmpdir(), 'sso-test-sqlite-'))
        folders.push(folder)
        return { databasePath: join(folder, 'test.sqlite') }
      },
    })
  })

  const unavailable = inject('postgresUnavailable')
  // Outside CI a machine without PostgreSQL still runs the SQLite half; the global setup already said why.
  const describePostgres = unavailable ? describe.skip : describe
  describePostgres(`${name} on postgres${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
    const drops: Array<() => Promise<void>> = []
    const templates = new Map<SchemaMigrations, Promise<{ databaseUrl: string; drop(): Promise<void> }>>()
    afterAll(async () => {
      await Promise.all(drops.map((drop) => drop()))
      await Promise.all([...templates.values()].map(async (template) => (await template).drop()))
    })
    body({
      name: 'postgres',
      createDatabase: async (migrations) => {
        let template: string | undefined
        if (migrations) {
          if (!templates.has(migrations)) templates.set(migrations, createMigratedTemplate(migrations))
          template = new URL((await templates.get(migrations)!).databaseUrl).pathname.slice(1)
        }
        const { databaseUrl, drop } = await createTestDatabase(template === undefined ? {} : { template })
        drops.push(drop)
        return { databaseUrl }
      },
    })
  })
}

async function createMigratedTemplate(migrations: SchemaMigrations) {
  const template = await createTestDatabase()
  const { db } = await openDatabase({ databaseUrl: template.databaseUrl, migrations })
  await db.destroy()
  return template
}

/** The test run's PostgreSQL superuser URL; throws when it could not start. */
export function requirePostgres(): string {
  const adminUrl = inject('postgresAdminUrl')
  if (!adminUrl)
    throw new Error(`no test PostgreSQL: ${inject('postgresUnavailable') || 'the global setup did not run'}`)
  return adminUrl
}
