import { type ColumnDataType, type CreateTableBuilder, type RawBuilder, sql } from 'kysely'

/** Which engine a database handle talks to; the few statements that differ between the two branch on it. */
export type Engine = 'sqlite' | 'postgres'

/**
 * Where the two engines name a type differently, migrations ask for it here, so every difference lives in this one
 * place and a migration reads the same for both engines.
 */
export interface ColumnTypes {
  engine: Engine
  /** Raw bytes (token hashes): SQLite BLOB, PostgreSQL bytea. Both come back as a Buffer. */
  bytes: ColumnDataType
  /**
   * A 64-bit integer (milliseconds since the epoch, cents): SQLite INTEGER is already 64-bit; PostgreSQL's
   * integer is 32-bit, so bigint, which `openDatabase` reads back as a number (never beyond 2^53, or it throws).
   */
  int64: ColumnDataType
  /**
   * Adds a primary key the database numbers itself: SQLite's INTEGER PRIMARY KEY (the rowid), PostgreSQL's
   * identity column.
   */
  addGeneratedId<T extends string, C extends string>(
    table: CreateTableBuilder<T, C>,
    name: string,
  ): CreateTableBuilder<T, C>
  /** SQLite table options (`STRICT`, `WITHOUT ROWID`) that PostgreSQL has no use for; nothing on PostgreSQL. */
  sqliteTableOptions<T extends string, C extends string>(
    table: CreateTableBuilder<T, C>,
    options: 'strict' | 'strict, without rowid' | 'without rowid',
  ): CreateTableBuilder<T, C>
}

/** The column types of one engine. */
export function columnTypes(engine: Engine): ColumnTypes {
  return {
    engine,
    bytes: engine === 'sqlite' ? 'blob' : 'bytea',
    int64: engine === 'sqlite' ? 'integer' : 'bigint',
    addGeneratedId: (table, name) =>
      engine === 'sqlite'
        ? table.addColumn(name, 'integer', (column) => column.primaryKey())
        : table.addColumn(name, 'bigint', (column) => column.primaryKey().generatedAlwaysAsIdentity()),
    sqliteTableOptions: (table, options) => (engine === 'sqlite' ? table.modifyEnd(sql.raw(options)) : table),
  }
}

/**
 * The database's clock in milliseconds since the epoch, for what replicas must time together (login counters): one
 * clock for all of them, whatever each machine's says.
 */
export function databaseNowMs(engine: Engine): RawBuilder<number> {
  return engine === 'sqlite'
    ? sql<number>`cast(unixepoch('subsec') * 1000 as integer)`
    : sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`
}
