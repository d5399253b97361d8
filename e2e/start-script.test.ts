// `npm start` and `npm run dev` (scripts/start.mjs) as a developer runs them, but piped rather than in a terminal,
// so the log lines must stay JSON. Like `npm start`, the services keep their SQLite files in the git-ignored data/.
import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { describe, expect, inject, it } from 'vitest'
import { E2E_SECRET, findFreePorts } from './support/start-services.js'
import { createTestDatabase } from './support/test-databases.js'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
const startScript = join(repoRoot, 'scripts', 'start.mjs')
const upTimeoutMs = 45_000

/** Runs the script and collects every line it prints, both streams together, until it exits. */
function runStartScript(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [startScript, ...args], {
    env: { PATH: process.env.PATH, JWT_SECRET: E2E_SECRET, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  const waiters: { match: RegExp; resolve: () => void }[] = []
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line)
      for (const waiter of waiters.filter(({ match }) => match.test(line))) waiter.resolve()
    })
  }
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  const printed = (match: RegExp) =>
    new Promise<void>((resolve, reject) => {
      if (lines.some((line) => match.test(line))) return resolve()
      const timer = setTimeout(() => reject(new Error(`no line matched ${match}:\n${lines.join('\n')}`)), upTimeoutMs)
      waiters.push({
        match,
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
      })
      void exited.then(() => reject(new Error(`exited before printing ${match}:\n${lines.join('\n')}`)))
    })
  return { child, lines, exited, printed }
}

async function stopWith(child: ChildProcess, exited: Promise<number | null>) {
  child.kill('SIGINT')
  const timeout = setTimeout(() => child.kill('SIGKILL'), 20_000)
  try {
    return await exited
  } finally {
    clearTimeout(timeout)
  }
}

describe('scripts/start.mjs', () => {
  it('refuses an argument it does not know, with its usage', async () => {
    const { exited, lines } = runStartScript(['--wach'], {})
    expect(await exited).toBe(2)
    expect(lines).toEqual(['usage: node scripts/start.mjs [--watch]'])
  })

  it('refuses DATABASE_URL, which would give both services one database, naming the variables to use', async () => {
    const { exited, lines } = runStartScript([], { DATABASE_URL: 'postgres://sso:pw@127.0.0.1/sso' })
    expect(await exited).toBe(1)
    expect(lines).toEqual([
      '[start] DATABASE_URL would give both services one database: set BANK_DATABASE_URL and RETIREMENT_DATABASE_URL.',
    ])
  })

  it.skipIf(inject('postgresUnavailable') !== '')(
    'runs each service on its own PostgreSQL database from BANK_DATABASE_URL and RETIREMENT_DATABASE_URL',
    async () => {
      const [bankPort = 0, retirementPort = 0] = await findFreePorts(2)
      const databases = [await createTestDatabase(), await createTestDatabase()] as const
      const run = runStartScript([], {
        BANK_PORT: String(bankPort),
        RETIREMENT_PORT: String(retirementPort),
        BANK_DATABASE_URL: databases[0].databaseUrl,
        RETIREMENT_DATABASE_URL: databases[1].databaseUrl,
      })
      try {
        await run.printed(/both services are up/)
        const body = JSON.stringify({ username: `pg_${bankPort}`, password: 'correct horse battery staple' })
        const registered = await fetch(`http://127.0.0.1:${bankPort}/api/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        })
        expect(registered.status).toBe(201)
        for (const [index, table] of [
          [0, 'users'],
          [1, 'plans'],
        ] as const) {
          const client = new pg.Client({ connectionString: databases[index].databaseUrl })
          await client.connect()
          try {
            const { rows } = await client.query(`select count(*)::int as n from ${table}`)
            expect(rows[0].n).toBe(table === 'users' ? 1 : 0)
          } finally {
            await client.end()
          }
        }
      } finally {
        expect(await stopWith(run.child, run.exited), run.lines.join('\n')).toBe(0)
        await Promise.all(databases.map((database) => database.drop()))
      }
    },
  )

  it.each([
    ['npm start', []],
    ['npm run dev', ['--watch']],
  ])(
    '%s runs both services, prints their log lines as JSON when piped, and stops both with exit 0 on Ctrl-C',
    async (_, args) => {
      const [bankPort = 0, retirementPort = 0] = await findFreePorts(2)
      const run = runStartScript(args, { BANK_PORT: String(bankPort), RETIREMENT_PORT: String(retirementPort) })
      try {
        await run.printed(/both services are up/)
        for (const [name, port] of [
          ['bank', bankPort],
          ['retirement', retirementPort],
        ] as const) {
          const logLines = run.lines.filter((line) => line.startsWith(`[${name}] {`))
          const messages = logLines.map((line) => JSON.parse(line.slice(name.length + 3)).msg)
          expect(messages, name).toContain(`Server listening at http://127.0.0.1:${port}`)
          expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status, name).toBe(200)
        }
        if (args.includes('--watch')) expect(run.lines).toContainEqual(expect.stringMatching(/^\[tsc\] .*Watching/))
      } finally {
        expect(await stopWith(run.child, run.exited), run.lines.join('\n')).toBe(0)
      }
    },
  )
})
