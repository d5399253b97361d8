import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import Database from 'better-sqlite3'

export type { Database } from 'better-sqlite3'

/**
 * Opens a service's SQLite file and brings its schema up to date. Migrations are `NNN-name.sql` files applied in
 * order, each in its own transaction, and recorded so they run once.
 */
export function openDatabase(path: string, migrationsDir: string): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path)
  // WAL lets readers proceed during a write; foreign keys are off by default in SQLite.
  if (path !== ':memory:') db.pragma('journal_mode = WAL')
  db.pragma('foreign_keys = ON')
  db.pragma('busy_timeout = 5000')
  db.pragma('synchronous = NORMAL')
  try {
    applyMigrations(db, migrationsDir)
  } catch (error) {
    db.close()
    throw error
  }
  return db
}

function applyMigrations(db: Database.Database, migrationsDir: string) {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)')
  const applied = new Set(
    db
      .prepare<[], { version: number }>('SELECT version FROM schema_migrations')
      .all()
      .map((row) => row.version),
  )
  const record = db.prepare('INSERT INTO schema_migrations (version, name) VALUES (?, ?)')
  const files = readdirSync(migrationsDir)
    .filter((file) => /^\d+-.+\.sql$/.test(file))
    .sort()
  for (const file of files) {
    const version = Number.parseInt(file, 10)
    if (applied.has(version)) continue
    db.transaction(() => {
      db.exec(readFileSync(join(migrationsDir, file), 'utf8'))
      record.run(version, file)
    })()
  }
}
