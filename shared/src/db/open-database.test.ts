import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { type Generated, type Kysely, sql } from 'kysely'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { findFreePort } from '../../../e2e/support/start-services.js'
import { createTestDatabase, describeEachEngine, requirePostgres } from '../../../e2e/support/test-databases.js'
import { DatabaseSettingError } from './database-url.js'
import { databaseNowMs } from './engine.js'
import { type OpenedDatabase, openDatabase, type SchemaMigrations } from './open-database.js'

interface TestDatabase {
  things: { id: Generated<number>; label: string | null; hash: Buffer; atMs: number }
  children: { thingId: number }
}

const migrations: SchemaMigrations = {
  '002-label': {
    async up(db) {
      await db.schema.alterTable('things').addColumn('label', 'text').execute()
    },
  },
  '001-things': {
    async up(db, types) {
      await db.schema
        .createTable('things')
        .$call((table) => types.addGeneratedId(table, 'id'))
        .addColumn('hash', types.bytes, (column) => column.notNull())
        .addColumn('at_ms', types.int64, (column) => column.notNull())
        .execute()
      await db.schema
        .createTable('children')
        .addColumn('thing_id', types.int64, (column) => column.notNull().references('things.id'))
        .execute()
    },
  },
}

const opened: Array<Kysely<unknown>> = []
async function open(options: Parameters<typeof openDatabase>[0]): Promise<OpenedDatabase<TestDatabase>> {
  const database = await openDatabase<TestDatabase>(options)
  opened.push(database.db as Kysely<unknown>)
  return database
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.destroy()))
})

describeEachEngine('openDatabase', (engine) => {
  it('applies migrations in name order, once, and keeps the data across reopening', async () => {
    const settings = await engine.createDatabase()
    const first = await open({ ...settings, migrations })
    expect(first.engine).toBe(engine.name)
    await first.db
      .insertInto('things')
      .values({ label: 'kept', hash: Buffer.from([0, 1, 255]), atMs: 1 })
      .execute()
    await first.db.destroy()

    const second = await open({ ...settings, migrations })
    expect(await second.db.selectFrom('things').select('label').execute()).toEqual([{ label: 'kept' }])
    const applied = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(second.db)
    expect(applied.rows.map((row) => row.name)).toEqual(['001-things', '002-label'])
  })

  it('reads 64-bit integers back as numbers and bytes as a Buffer, the same on both engines', async () => {
    const { db } = await open({ ...(await engine.createDatabase()), migrations })
    const atMs = Date.UTC(2100, 0, 1) // beyond 2^32 milliseconds, and beyond PostgreSQL's 32-bit integer
    const hash = randomBytes(32)
    const { id } = await db
      .insertInto('things')
      .values({ label: null, hash, atMs })
      .returning('id')
      .executeTakeFirstOrThrow()
    expect(id).toBe(1)
    const row = await db.selectFrom('things').selectAll().executeTakeFirstOrThrow()
    expect(row).toEqual({ id: 1, label: null, hash, atMs })
    expect(Buffer.isBuffer(row.hash)).toBe(true)
    const { count } = await db
      .selectFrom('things')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow()
    expect(count).toBe(1)
  })

  it('enforces foreign keys', async () => {
    const { db } = await open({ ...(await engine.createDatabase()), migrations })
    await expect(db.insertInto('children').values({ thingId: 42 }).execute()).rejects.toThrow(/foreign key/i)
  })

  it('rolls a failing migration back whole, and says which one failed', async () => {
    const settings = await engine.createDatabase()
    const failing: SchemaMigrations = {
      ...migrations,
      '003-broken': {
        async up(db) {
          await db.schema.createTable('half_done').addColumn('id', 'integer').execute()
          await sql`this is not sql`.execute(db)
        },
      },
    }
    await expect(openDatabase({ ...settings, migrations: failing })).rejects.toThrow(/^migration 003-broken failed: /)
    const { db } = await open({ ...settings, migrations: {} })
    const tables = await db.introspection.getTables()
    expect(tables.map((table) => table.name)).not.toContain('half_done')
    expect(tables.map((table) => table.name)).not.toContain('things')
  })

  it('answers a repeated query with the current schema and data (SQLite reuses its prepared statements)', async () => {
    const { db } = await open({ ...(await engine.createDatabase()), migrations })
    const all = () => sql<Record<string, unknown>>`select * from children`.execute(db).then((result) => result.rows)
    expect(await all()).toEqual([])
    await sql`alter table children add column note text`.execute(db)
    await db
      .insertInto('things')
      .values({ label: null, hash: Buffer.from([1]), atMs: 1 })
      .execute()
    await db.insertInto('children').values({ thingId: 1 }).execute()
    expect(await all()).toEqual([{ thingId: 1, note: null }])
  })

  it("reads the database's clock in milliseconds since the epoch", async () => {
    const { db, engine: name } = await open({ ...(await engine.createDatabase()), migrations })
    const before = Date.now()
    const { nowMs } = await sql<{ nowMs: number }>`select ${databaseNowMs(name)} as now_ms`
      .execute(db)
      .then((result) => result.rows[0]!)
    // Same machine, same clock: within a second either way (the margin absorbs a slow CI, not an engine's error).
    expect(typeof nowMs).toBe('number')
    expect(Math.abs(nowMs - before)).toBeLessThan(1_000)
  })
})

describe('openDatabase on a SQLite file of the earlier .sql runner', () => {
  const legacyVersions = { 1: ['001-things'] }
  const folders: string[] = []
  afterEach(() => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true })
  })
  /** A file as the old runner left it at version 1 (its table `things`, one row), with `extra` run on it. */
  function legacyFile(extra = '') {
    const folder = mkdtempSync(join(tmpdir(), 'sso-legacy-'))
    folders.push(folder)
    const path = join(folder, 'old.sqlite')
    const file = new Database(path)
    file.exec(`
      CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL);
      CREATE TABLE things (id INTEGER PRIMARY KEY, hash BLOB NOT NULL, at_ms INTEGER NOT NULL);
      CREATE TABLE children (thing_id INTEGER NOT NULL REFERENCES things (id));
      INSERT INTO things VALUES (1, x'00', 42);
      INSERT INTO schema_migrations VALUES (1, '001-things.sql');
      ${extra}`)
    file.close()
    return path
  }

  it('records what it had as applied, keeps its rows, and runs the rest', async () => {
    const { db } = await open({ databasePath: legacyFile(), migrations, legacyVersions })
    expect(await db.selectFrom('things').select(['id', 'atMs', 'label']).execute()).toEqual([
      { id: 1, atMs: 42, label: null },
    ])
    const applied = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db)
    expect(applied.rows.map((row) => row.name)).toEqual(['001-things', '002-label'])
  })

  it("baselines again after a crash that left Kysely's table empty", async () => {
    const path = legacyFile(
      'CREATE TABLE kysely_migration (name varchar(255) PRIMARY KEY, timestamp varchar(255) NOT NULL);',
    )
    const { db } = await open({ databasePath: path, migrations, legacyVersions })
    expect(await db.selectFrom('things').select('id').execute()).toEqual([{ id: 1 }])
  })

  it('refuses a version it does not know (a newer release made the file) rather than guess', async () => {
    const path = legacyFile("INSERT INTO schema_migrations VALUES (2, '002-from-the-future.sql');")
    await expect(openDatabase({ databasePath: path, migrations, legacyVersions })).rejects.toThrow(
      /schema_migrations has version 2/,
    )
  })
})

describe('openDatabase, PostgreSQL only', () => {
  it('survives a connection killed while lent out: its transaction fails, the process goes on, the next query works', async () => {
    const { databaseUrl, drop } = await createTestDatabase()
    const admin = new pg.Client({ connectionString: requirePostgres() })
    await admin.connect()
    try {
      const { db } = await open({ databaseUrl, migrations })
      const name = new URL(databaseUrl).pathname.slice(1)
      const outcome = await db
        .transaction()
        .execute(async (trx) => {
          await sql`select 1`.execute(trx)
          // Killed between two statements, as an operator's pg_terminate_backend, a server restart or a proxy would.
          const { rows } = await admin.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND state = 'idle in transaction'`,
            [name],
          )
          expect(rows).toHaveLength(1)
          // The socket closes meanwhile; pg emits 'error' on the client, which Kysely holds: without a listener
          // there, an uncaught exception (vitest reports it as an unhandled error of this file; a service would exit).
          await new Promise((resolve) => setTimeout(resolve, 200))
          await sql`select 2`.execute(trx)
          return 'committed'
        })
        .catch((error: unknown) => error)
      expect(outcome).toBeInstanceOf(Error)
      expect((await sql<{ one: number }>`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }])
    } finally {
      await admin.end()
      await Promise.all(opened.splice(0).map((db) => db.destroy()))
      await drop()
    }
  })

  it('migrates an empty database once when three openers start together (the advisory lock)', async () => {
    const { databaseUrl, drop } = await createTestDatabase()
    try {
      const ran: string[] = []
      const counting: SchemaMigrations = Object.fromEntries(
        Object.entries(migrations).map(([name, migration]) => [
          name,
          {
            async up(db, types) {
              ran.push(name)
              await migration.up(db, types)
            },
          },
        ]),
      )
      const replicas = await Promise.all([1, 2, 3].map(() => open({ databaseUrl, migrations: counting })))
      expect(ran.sort()).toEqual(['001-things', '002-label'])
      for (const { db } of replicas) expect(await db.selectFrom('things').selectAll().execute()).toEqual([])
    } finally {
      await Promise.all(opened.splice(0).map((db) => db.destroy()))
      await drop()
    }
  })

  it('stops on an unreachable server with one message naming DATABASE_URL, never its password', async () => {
    const port = await findFreePort() // nothing listens there
    const password = 'unreachable-Pa55word'
    const error = await openDatabase({ databaseUrl: `postgres://bank:${password}@127.0.0.1:${port}/bank`, migrations })
      .then(() => undefined)
      .catch((caught: unknown) => caught as Error)
    expect(error).toBeInstanceOf(DatabaseSettingError)
    expect(error?.message).toBe(
      `DATABASE_URL: cannot connect to postgres://bank:***@127.0.0.1:${port}/bank: connect ECONNREFUSED 127.0.0.1:${port}`,
    )
    expect(error?.message).not.toContain('\n')
  })

  it('names DATABASE_URL, not the password, when the server refuses the password', async () => {
    const { databaseUrl, drop } = await createTestDatabase()
    try {
      const url = new URL(databaseUrl)
      url.password = 'wrong-Pa55word'
      const error = await openDatabase({ databaseUrl: url.toString(), migrations }).catch((caught: unknown) => caught)
      expect(error).toBeInstanceOf(DatabaseSettingError)
      expect((error as Error).message).toMatch(
        /^DATABASE_URL: cannot connect to postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/test_\w+: .*password authentication failed/,
      )
      expect((error as Error).message).not.toContain('wrong-Pa55word')
    } finally {
      await drop()
    }
  })

  it('refuses a malformed DATABASE_URL before connecting anywhere', async () => {
    await expect(openDatabase({ databaseUrl: 'mysql://bank:pw@db/bank', migrations })).rejects.toThrow(
      DatabaseSettingError,
    )
  })
})
