import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import {
  CamelCasePlugin,
  type Dialect,
  Kysely,
  PostgresDialect,
  SqliteAdapter,
  type SqliteDatabase,
  SqliteDialect,
  sql,
} from 'kysely'
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration'
import pg from 'pg'
import { checkDatabaseUrl, toDatabaseConnectError } from './database-url.js'
import { type ColumnTypes, columnTypes, type Engine } from './engine.js'

/**
 * One migration, written once for both engines with Kysely's schema builder. `types` names the column types that
 * differ between them. Migrations only go forward: there is no `down`, a mistake is fixed by the next migration.
 */
export interface SchemaMigration {
  // biome-ignore lint/suspicious/noExplicitAny: a migration sees the schema as it was then, not today's table types.
  up(db: Kysely<any>, types: ColumnTypes): Promise<void>
}

/** A service's migrations by name; they run in the order of their names (`001-…`, `002-…`), each once. */
export type SchemaMigrations = Readonly<Record<string, SchemaMigration>>

/**
 * The earlier runner's versions (`NNN-name.sql`, recorded by number in `schema_migrations`) mapped to the names of
 * the migrations that made the same tables. A SQLite file that has `schema_migrations` and no Kysely migration recorded
 * is baselined once: the migrations its versions stand for are recorded as applied without running (its tables are
 * already there, with its data), and the rest run as usual.
 */
export type LegacyMigrationVersions = Readonly<Record<number, readonly string[]>>

export interface OpenDatabaseOptions {
  /** `postgres://…`: PostgreSQL. Checked here too, so a bad value never reaches the driver. */
  databaseUrl?: string | undefined
  /** A SQLite file (created with its folder when missing), or `:memory:`. Used when `databaseUrl` is not set. */
  databasePath?: string | undefined
  migrations: SchemaMigrations
  /**
   * SQLite files made by the earlier `.sql` runner: which of `migrations` each of its versions (recorded in its
   * `schema_migrations` table) amounts to. See {@link LegacyMigrationVersions}.
   */
  legacyVersions?: LegacyMigrationVersions
  /** PostgreSQL only: the most connections this process opens. Each replica has its own pool. */
  maxConnections?: number
  /** PostgreSQL only: shown in `pg_stat_activity`, so an operator sees which service holds a connection. */
  applicationName?: string
  /**
   * PostgreSQL only: a pooled connection failed (the server restarted, a proxy cut it), idle or during a query (which
   * fails with that error too). `pg` drops that connection and opens another when needed; without a listener the
   * error would end the process.
   */
  onIdleConnectionError?: (error: Error) => void
}

/** An open, migrated database and the engine behind it. `db.destroy()` closes it. */
export interface OpenedDatabase<T> {
  db: Kysely<T>
  engine: Engine
}

// Ten connections per replica: our statements are short and no transaction awaits argon2 or the network, so more
// would only queue inside PostgreSQL (whose default max_connections, 100, several replicas of two services share).
const defaultMaxConnections = 10
const connectTimeoutMs = 5_000
// A statement or an open transaction that takes this long is a bug or a lock pile-up; end it rather than let requests
// queue behind it forever.
const statementTimeoutMs = 10_000
const idleInTransactionTimeoutMs = 10_000
const sqliteBusyTimeoutMs = 5_000
const int8Oid = 20

/** Where a service keeps its state, as its config says: PostgreSQL when `DATABASE_URL` is set, else the SQLite file. */
export interface DatabaseSettings {
  DATABASE_URL?: string | undefined
  DATABASE_PATH: string
}

/** {@link openDatabase} on the database a service's config names. */
export function openConfiguredDatabase<T>(
  settings: DatabaseSettings,
  options: Omit<OpenDatabaseOptions, 'databaseUrl' | 'databasePath'>,
): Promise<OpenedDatabase<T>> {
  const where =
    settings.DATABASE_URL === undefined
      ? { databasePath: settings.DATABASE_PATH }
      : { databaseUrl: settings.DATABASE_URL }
  return openDatabase<T>({ ...where, ...options })
}

/**
 * Opens a service's database, PostgreSQL when `databaseUrl` is set, else SQLite, and brings its schema up to date
 * with Kysely's Migrator. Column names are snake_case in SQL and camelCase in TypeScript (Kysely's CamelCasePlugin).
 * On PostgreSQL the Migrator holds an advisory lock, so replicas starting together on an empty database migrate
 * it once. A database that cannot be reached throws a `DatabaseSettingError` naming DATABASE_URL, never its password.
 */
export async function openDatabase<T>(options: OpenDatabaseOptions): Promise<OpenedDatabase<T>> {
  const { engine, dialect } =
    options.databaseUrl !== undefined
      ? { engine: 'postgres' as const, dialect: postgresDialect(options.databaseUrl, options) }
      : { engine: 'sqlite' as const, dialect: sqliteDialect(options.databasePath ?? ':memory:') }
  const db = new Kysely<T>({ dialect, plugins: [new CamelCasePlugin()] })
  try {
    if (engine === 'postgres') {
      // Ask once before migrating, so an unreachable server reads as a DATABASE_URL problem, not a migration one.
      await sql`select 1`.execute(db).catch((error: unknown) => {
        throw toDatabaseConnectError(error, options.databaseUrl ?? '')
      })
    }
    const baselined =
      engine === 'sqlite' ? await findLegacyBaseline(db, options.legacyVersions ?? {}) : new Set<string>()
    await migrate(db, engine, options.migrations, baselined)
  } catch (error) {
    await db.destroy()
    throw error
  }
  return { db, engine }
}

/**
 * The migrations a file of the earlier `.sql` runner already has, by its `schema_migrations`; none for a file that
 * Kysely's Migrator has seen (it has `kysely_migration`) or that the old runner never touched.
 */
async function findLegacyBaseline<T>(db: Kysely<T>, legacyVersions: LegacyMigrationVersions): Promise<Set<string>> {
  const tables = new Set(
    (
      await sql<{ name: string }>`
        select name from sqlite_master where type = 'table' and name in ('schema_migrations', 'kysely_migration')`.execute(
        db,
      )
    ).rows.map((row) => row.name),
  )
  if (!tables.has('schema_migrations')) return new Set()
  // Kysely creates its table before the (one) transaction that applies and records the migrations: an empty one is
  // what a baseline interrupted by a crash leaves, so it is baselined again.
  if (tables.has('kysely_migration')) {
    const { rows } = await sql<{ count: number }>`select count(*) as count from kysely_migration`.execute(db)
    if (Number(rows[0]?.count) > 0) return new Set()
  }
  const { rows } = await sql<{ version: number }>`select version from schema_migrations order by version`.execute(db)
  const names = new Set<string>()
  for (const { version } of rows) {
    const equivalent = legacyVersions[version]
    // A version this code does not know was made by a newer release: refuse rather than guess at its schema.
    if (!equivalent) throw new Error(`schema_migrations has version ${version}, which this release does not know`)
    for (const name of equivalent) names.add(name)
  }
  return names
}

async function migrate<T>(db: Kysely<T>, engine: Engine, migrations: SchemaMigrations, baselined: Set<string>) {
  const types = columnTypes(engine)
  const provider: MigrationProvider = {
    getMigrations: async () =>
      Object.fromEntries(
        Object.entries(migrations).map(([name, migration]): [string, Migration] => [
          name,
          // Baselined: its tables are already there; the Migrator records it as applied, in its own bookkeeping.
          { up: baselined.has(name) ? async () => {} : (migrationDb) => migration.up(migrationDb, types) },
        ]),
      ),
  }
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest()
  if (error) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName
    const reason = error instanceof Error ? error.message : String(error)
    throw new Error(`migration ${failed ?? '(none ran)'} failed: ${reason}`, { cause: error })
  }
}

function postgresDialect(databaseUrl: string, options: OpenDatabaseOptions): Dialect {
  const { url } = checkDatabaseUrl(databaseUrl)
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? defaultMaxConnections,
    connectionTimeoutMillis: connectTimeoutMs,
    statement_timeout: statementTimeoutMs,
    idle_in_transaction_session_timeout: idleInTransactionTimeoutMs,
    application_name: options.applicationName,
    types: { getTypeParser: typeParser },
  })
  const onConnectionError = options.onIdleConnectionError ?? (() => {})
  pool.on('error', onConnectionError)
  // pg-pool listens for errors only on idle clients; a client lent to Kysely has no 'error' listener, so a connection
  // killed during a query (a server restart, pg_terminate_backend, a proxy) emitted an unhandled 'error' that ended
  // the process, though the query itself already fails with that error. A listener per client for its whole life
  // keeps it to the query (and the log); pg-pool drops the broken client when it is released.
  pool.on('connect', (client) => {
    client.on('error', onConnectionError)
  })
  return new PostgresDialect({ pool })
}

// pg returns bigint (int8) as a string, since it may exceed 2^53. Ours hold milliseconds and cents, far below that;
// as numbers they read the same as SQLite's INTEGER, so repositories need no per-engine conversion.
const typeParser = ((oid: number, format?: 'text' | 'binary') => {
  if (oid !== int8Oid || format === 'binary') return pg.types.getTypeParser(oid, format ?? 'text')
  return (value: string) => {
    const number = Number(value)
    if (!Number.isSafeInteger(number)) throw new RangeError(`bigint ${value} is beyond Number.MAX_SAFE_INTEGER`)
    return number
  }
}) as typeof pg.types.getTypeParser

function sqliteDialect(path: string): Dialect {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const database = new Database(path)
  try {
    // WAL lets readers proceed during a write; foreign keys are off by default in SQLite.
    if (path !== ':memory:') database.pragma('journal_mode = WAL')
    database.pragma('foreign_keys = ON')
    database.pragma(`busy_timeout = ${sqliteBusyTimeoutMs}`)
    database.pragma('synchronous = NORMAL')
  } catch (error) {
    database.close()
    throw error
  }
  return new TransactionalDdlSqliteDialect({ database: withStatementCache(database) })
}

// Kysely's SQLite driver prepares every query anew. Measured in a login storm (CPU profile of the bank, 2026-12-01):
// better-sqlite3's prepare() alone took 0.45 ms of the main thread per login, whose every other statement repeats
// from one login to the next. Statements are kept by their SQL text (parameters are bound per run, and Kysely's one
// connection runs one statement at a time), up to a bound that our fixed set of queries stays far below.
const maxCachedStatements = 500

function withStatementCache(database: Database.Database): SqliteDatabase {
  const statements = new Map<string, Database.Statement>()
  return {
    close: () => database.close(),
    prepare(sql: string) {
      let statement = statements.get(sql)
      if (!statement) {
        statement = database.prepare(sql)
        if (statements.size >= maxCachedStatements) statements.delete(statements.keys().next().value as string)
        statements.set(sql, statement)
      }
      return statement
    },
  }
}

// Kysely runs migrations in a transaction only when the adapter says DDL is transactional, and its SQLite adapter
// says no, though SQLite rolls a CREATE TABLE back like any write. Without this, a migration failing halfway would
// leave half its tables behind (shared/src/db/open-database.test.ts: "rolls a failing migration back whole").
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl() {
    return true
  }
}

class TransactionalDdlSqliteDialect extends SqliteDialect {
  override createAdapter() {
    return new TransactionalDdlSqliteAdapter()
  }
}

/**
 * `/readyz`'s question about the database: does it answer a `select 1` now? (A readiness check as `addReadinessCheck`
 * of `@sso/shared` takes it; its timeout bounds the wait for a connection.)
 */
export function databaseAnswers<T>(db: Kysely<T>) {
  return {
    name: 'the database',
    async check(): Promise<undefined> {
      await sql`select 1`.execute(db)
      return undefined
    },
  }
}
