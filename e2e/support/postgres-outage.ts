// Failures of one test database, played by the test run's PostgreSQL superuser: the database refusing every
// connection (as if its server were down, for the replicas that use it, without stopping the server other tests
// share), and chosen connections killed with pg_terminate_backend.
import pg from 'pg'
import { requirePostgres } from './test-databases.js'

function databaseNameOf(databaseUrl: string): string {
  const name = new URL(databaseUrl).pathname.slice(1)
  // Test databases are named test_<pid>_<hex>: nothing here needs quoting, and nothing else is accepted.
  if (!/^test_[0-9a-z_]+$/.test(name)) throw new Error('not a test database')
  return name
}

async function asAdmin<T>(use: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: requirePostgres() })
  await admin.connect()
  try {
    return await use(admin)
  } finally {
    await admin.end()
  }
}

/** The database refuses new connections and loses its open ones, until {@link reopenDatabase}. */
export async function cutOffDatabase(databaseUrl: string): Promise<void> {
  const name = databaseNameOf(databaseUrl)
  await asAdmin(async (admin) => {
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`)
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name])
  })
}

/** Undoes {@link cutOffDatabase}. */
export async function reopenDatabase(databaseUrl: string): Promise<void> {
  const name = databaseNameOf(databaseUrl)
  await asAdmin((admin) => admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`))
}

/**
 * Kills the connections to the database that are waiting in `LISTEN` (their last query was a LISTEN), as an
 * operator's `pg_terminate_backend` or a proxy cutting an idle connection would; resolves with how many.
 */
export async function terminateListeners(databaseUrl: string): Promise<number> {
  const name = databaseNameOf(databaseUrl)
  return asAdmin(async (admin) => {
    const { rows } = await admin.query<{ terminated: boolean }>(
      `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
        WHERE datname = $1 AND query ILIKE 'LISTEN %' AND pid <> pg_backend_pid()`,
      [name],
    )
    return rows.filter((row) => row.terminated).length
  })
}
