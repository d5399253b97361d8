// Databases in a PostgreSQL server we administer (the test run's throwaway server, or the bench's): made and dropped
// with a superuser URL. No vitest here, so the bench (a plain Node process) can use it too.
import { randomBytes } from 'node:crypto'
import pg from 'pg'

/** A database made by {@link createDatabaseIn}; `drop()` removes it, closing whoever is still in it. */
export interface CreatedDatabase {
  databaseUrl: string
  drop(): Promise<void>
}

/** A new, empty database (or a copy of `template`) in the server `adminUrl` reaches as a superuser. */
export async function createDatabaseIn(
  adminUrl: string,
  options: { template?: string } = {},
): Promise<CreatedDatabase> {
  const name = `test_${process.pid}_${randomBytes(6).toString('hex')}`
  await withAdmin(adminUrl, async (admin) => {
    if (options.template === undefined) return admin.query(`CREATE DATABASE ${name}`)
    // A template must have no session; the one that migrated it may take a moment to leave after disconnecting.
    for (let attempt = 1; ; attempt++) {
      try {
        return await admin.query(`CREATE DATABASE ${name} TEMPLATE ${options.template}`)
      } catch (error) {
        if ((error as { code?: string }).code !== '55006' || attempt === 20) throw error
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  })
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    databaseUrl: url.toString(),
    drop: async () => {
      await withAdmin(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
    },
  }
}

async function withAdmin<T>(adminUrl: string, use: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    return await use(admin)
  } finally {
    await admin.end()
  }
}
