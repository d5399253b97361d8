// SQLite files as the earlier `.sql` runner (shared/src/database.ts, removed) made them, to test that a service
// opening one keeps its data. The runner's logic, reproduced: each `NNN-name.sql` in order, in its own transaction,
// recorded by number in schema_migrations.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'

/** Creates `path` from the `.sql` files in `sqlDir` up to `upToVersion`, then runs `seed` on it. */
export function createLegacySqliteFile(
  path: string,
  sqlDir: string,
  upToVersion: number,
  seed: (db: Database.Database) => void = () => {},
): void {
  const db = new Database(path)
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('foreign_keys = ON')
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)')
    const record = db.prepare('INSERT INTO schema_migrations (version, name) VALUES (?, ?)')
    const files = readdirSync(sqlDir)
      .filter((file) => /^\d+-.+\.sql$/.test(file))
      .sort()
    for (const file of files) {
      const version = Number.parseInt(file, 10)
      if (version > upToVersion) break
      db.transaction(() => {
        db.exec(readFileSync(join(sqlDir, file), 'utf8'))
        record.run(version, file)
      })()
    }
    seed(db)
  } finally {
    db.close()
  }
}
