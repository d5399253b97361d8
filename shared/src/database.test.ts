import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { openDatabase } from './database.js'

function migrationsDir(files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'sso-migrations-'))
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, name), sql)
  return dir
}

describe('openDatabase', () => {
  it('applies migrations in order, once, with foreign keys on and WAL for files', () => {
    const dir = migrationsDir({
      '002-add-column.sql': 'ALTER TABLE things ADD COLUMN label TEXT;',
      '001-things.sql': 'CREATE TABLE things (id INTEGER PRIMARY KEY);',
      'README.md': 'not a migration',
    })
    const dataDir = join(mkdtempSync(join(tmpdir(), 'sso-db-')), 'nested')
    mkdirSync(dataDir)
    const path = join(dataDir, 'test.sqlite')
    const first = openDatabase(path, dir)
    expect(first.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(first.pragma('foreign_keys', { simple: true })).toBe(1)
    first.prepare('INSERT INTO things (id, label) VALUES (1, ?)').run('kept')
    first.close()
    const second = openDatabase(path, dir)
    expect(second.prepare('SELECT label FROM things').get()).toEqual({ label: 'kept' })
    expect(second.prepare('SELECT count(*) AS n FROM schema_migrations').get()).toEqual({ n: 2 })
    second.close()
  })

  it('rolls a failing migration back whole', () => {
    const dir = migrationsDir({ '001-broken.sql': 'CREATE TABLE a (id INTEGER); THIS IS NOT SQL;' })
    const path = join(mkdtempSync(join(tmpdir(), 'sso-db-')), 'test.sqlite')
    expect(() => openDatabase(path, dir)).toThrow()
    const db = new Database(path)
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'a'").get()).toBeUndefined()
    db.close()
  })
})
