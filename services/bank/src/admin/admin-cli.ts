// `npm run admin -- <command>`: the operator's commands against the bank's database, on SQLite or PostgreSQL, with the
// bank's own configuration (the same environment variables, read by the same loader). Exit codes: 0 done, 1 failed
// (configuration, database), 2 usage, 3 not found. Nothing secret is printed, except by `secret:rotate`, whose job it
// is, and only to stdout.
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { ConfigError } from '@sso/shared'
import { DatabaseSettingError, type OpenedDatabase, openDatabase } from '@sso/shared/db'
import { createLogoutOutbox } from '../backchannel/logout-outbox.js'
import { type BankConfig, loadBankConfig } from '../config.js'
import type { BankDatabase } from '../db/bank-database.js'
import { bankLegacyVersions, bankMigrations } from '../db/migrations/index.js'
import { normalizeUsername } from '../identity/credentials.js'
import { createUsersRepository, type User } from '../identity/users-repository.js'
import { createRefreshTokens } from '../sessions/refresh-token.js'
import { createSessionsRepository } from '../sessions/sessions-repository.js'
import { formatJson, formatTable, formatTime, printable } from './admin-output.js'
import { createAdminReports } from './admin-reports.js'
import { describeRotationPlan, generateSecret, planSecretRotation } from './secret-rotation.js'

/** Where the command writes: process.stdout and process.stderr, or strings in tests. */
export interface AdminIo {
  stdout: { write(text: string): unknown }
  stderr: { write(text: string): unknown }
}

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2
export const EXIT_NOT_FOUND = 3

const USAGE = `usage: npm run admin -- <command> [--json]

commands:
  users:list                      every user, with their number of live sessions
  sessions:list <username>        the user's live sessions
  sessions:revoke-all <username>  ends every session of the user; logout notices go out through the outbox
  outbox:status                   logout notices still to deliver, per back-channel URL
  secret:rotate                   a new JWT secret and the settings to deploy it with, step by step
  help                            this text

options:
  --json                          machine-readable output on stdout

It reads the bank's settings from the environment, as the bank does (DATABASE_URL or DATABASE_PATH, …); only
secret:rotate needs the secret. Exit codes: 0 done, 1 failed, 2 usage error, 3 no such user.`

/** An expected failure: one line on stderr and its exit code. */
class AdminError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message)
  }
}

interface Command {
  /** The positional arguments it takes, by name, for the usage error. */
  arguments: readonly string[]
  run(context: CommandContext): Promise<void>
}

interface CommandContext {
  args: readonly string[]
  json: boolean
  env: NodeJS.ProcessEnv
  out(text: string): void
}

/** Runs one admin command; resolves with the process's exit code and never throws for an expected failure. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv, io: AdminIo): Promise<number> {
  let parsed: ReturnType<typeof parseCommandLine>
  try {
    parsed = parseCommandLine(argv)
  } catch (error) {
    io.stderr.write(`admin: ${describeArgumentError(error as Error & { code?: string })}\n${USAGE}\n`)
    return EXIT_USAGE
  }
  if (parsed.help) {
    io.stdout.write(`${USAGE}\n`)
    return EXIT_OK
  }
  const [name = '', ...args] = parsed.positionals
  const command = COMMANDS[name]
  const problem = !command
    ? name === ''
      ? 'no command given'
      : `unknown command "${name}"`
    : args.length < command.arguments.length
      ? `${name} needs ${command.arguments.map((argument) => `<${argument}>`).join(' ')}`
      : args.length > command.arguments.length
        ? `${name} takes ${command.arguments.length === 0 ? 'no arguments' : `only ${command.arguments.map((argument) => `<${argument}>`).join(' ')}`}`
        : undefined
  if (problem || !command) {
    io.stderr.write(`admin: ${problem}\n${USAGE}\n`)
    return EXIT_USAGE
  }
  try {
    await command.run({ args, json: parsed.json, env, out: (text) => io.stdout.write(`${text}\n`) })
    return EXIT_OK
  } catch (error) {
    if (error instanceof AdminError) {
      io.stderr.write(`admin: ${error.message}\n`)
      return error.exitCode
    }
    if (error instanceof ConfigError) {
      io.stderr.write(`Configuration error: ${error.message}\n`)
      return EXIT_FAILURE
    }
    // DatabaseSettingError (unreachable, refused) already names DATABASE_URL without its password.
    if (error instanceof DatabaseSettingError) {
      io.stderr.write(`admin: ${error.message}\n`)
      return EXIT_FAILURE
    }
    io.stderr.write(
      `admin: ${name} failed: ${withoutDatabasePassword((error as Error).message ?? String(error), env)}\n`,
    )
    return EXIT_FAILURE
  }
}

function parseCommandLine(argv: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    allowPositionals: true,
    strict: true,
  })
  return { json: values.json, help: values.help || positionals[0] === 'help', positionals }
}

/** parseArgs's messages, in one short line: `unknown option "--yaml"`. */
function describeArgumentError(error: Error & { code?: string }): string {
  const option = /'(-[^']*)'/.exec(error.message)?.[1]
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) return `unknown option "${printable(option)}"`
  return printable(error.message)
}

const COMMANDS: Record<string, Command> = {
  'users:list': {
    arguments: [],
    run: (context) =>
      withDatabase(context.env, async ({ opened }) => {
        const users = await createAdminReports(opened).listUsers(Date.now())
        if (context.json) {
          context.out(
            formatJson(
              users.map(({ createdAtMs, ...user }) => ({ ...user, createdAt: new Date(createdAtMs).toISOString() })),
            ),
          )
          return
        }
        if (users.length === 0) return context.out('No users.')
        context.out(
          formatTable(
            ['USERNAME', 'ID', 'CREATED', 'LIVE SESSIONS'],
            users.map((user) => [user.username, user.id, formatTime(user.createdAtMs), String(user.liveSessions)]),
          ),
        )
      }),
  },

  'sessions:list': {
    arguments: ['username'],
    run: (context) =>
      withDatabase(context.env, async ({ opened, repositories }) => {
        const user = await findUser(opened, context.args[0] ?? '')
        const sessions = await repositories.sessions.listLive(user.id)
        if (context.json) {
          context.out(
            formatJson({
              username: user.username,
              sessions: sessions.map((session) => ({
                id: session.id,
                createdAt: new Date(session.createdAtMs).toISOString(),
                lastUsedAt: new Date(session.lastUsedAtMs).toISOString(),
                userAgent: session.userAgent,
              })),
            }),
          )
          return
        }
        if (sessions.length === 0) return context.out(`${user.username} has no live session.`)
        context.out(
          formatTable(
            ['SESSION ID', 'CREATED', 'LAST USED', 'USER AGENT'],
            sessions.map((session) => [
              session.id,
              formatTime(session.createdAtMs),
              formatTime(session.lastUsedAtMs),
              session.userAgent ?? '',
            ]),
          ),
        )
      }),
  },

  'sessions:revoke-all': {
    arguments: ['username'],
    run: (context) =>
      withDatabase(context.env, async ({ opened, settings, repositories }) => {
        const user = await findUser(opened, context.args[0] ?? '')
        // "Log out everywhere", as the bank does it: the revocation and its logout notices commit together, and the
        // running bank's delivery worker (which polls the outbox every second) posts them.
        const revoked = await repositories.sessions.revokeAllForUser(user.id)
        const urls = settings.BACKCHANNEL_LOGOUT_URLS
        const notices = revoked * urls.length
        if (context.json) {
          context.out(formatJson({ username: user.username, revokedSessions: revoked, logoutNotices: notices, urls }))
          return
        }
        if (revoked === 0) return context.out(`${user.username} had no live session: nothing to revoke.`)
        context.out(
          [
            `Revoked ${revoked} session${revoked === 1 ? '' : 's'} of ${user.username}: the bank refuses their tokens now.`,
            `Queued ${notices} logout notice${notices === 1 ? '' : 's'} for ${urls.join(', ')};`,
            'a running bank delivers them within seconds (see outbox:status).',
          ].join('\n'),
        )
      }),
  },

  'outbox:status': {
    arguments: [],
    run: (context) =>
      withDatabase(context.env, async ({ opened }) => {
        const byUrl = await createAdminReports(opened).outboxStatus()
        const pending = byUrl.reduce((sum, url) => sum + url.pending, 0)
        if (context.json) {
          context.out(
            formatJson({
              pending,
              urls: byUrl.map(({ oldestCreatedAtMs, ...status }) => ({
                ...status,
                oldestCreatedAt: new Date(oldestCreatedAtMs).toISOString(),
              })),
            }),
          )
          return
        }
        if (pending === 0) return context.out('The logout outbox is empty: every notice was delivered or given up.')
        context.out(
          formatTable(
            ['URL', 'PENDING', 'BEING DELIVERED', 'RETRYING', 'MAX ATTEMPTS', 'OLDEST'],
            byUrl.map((status) => [
              status.url,
              String(status.pending),
              String(status.beingDelivered),
              String(status.retrying),
              String(status.maxAttempts),
              formatTime(status.oldestCreatedAtMs),
            ]),
          ),
        )
      }),
  },

  'secret:rotate': {
    arguments: [],
    async run(context) {
      // The whole configuration, as the bank reads it: the current key from JWT_SECRET or JWT_SECRET_FILE (in
      // development the generated file, as `npm start` uses it), checked by the same rules.
      const config = loadBankConfig(context.env)
      if (config.JWT_SECRET === undefined) {
        throw new AdminError(`JWT_ALG=${config.JWT_ALG} signs with a key pair: use key:rotate`, EXIT_FAILURE)
      }
      // JWT_PREVIOUS_SECRETS is split at commas and its items trimmed: such a key would not survive being listed there,
      // and step 2 would refuse every token it signed.
      if (config.JWT_SECRET.includes(',') || config.JWT_SECRET.trim() !== config.JWT_SECRET) {
        throw new AdminError(
          'JWT_SECRET: cannot be listed in JWT_PREVIOUS_SECRETS (it holds a comma or surrounding spaces), so it ' +
            'cannot be rotated without refusing the tokens it signed; switch to a new key at once (step 3 of a ' +
            'rotation) and let clients refresh',
          EXIT_FAILURE,
        )
      }
      const plan = planSecretRotation(
        { secret: config.JWT_SECRET, previousSecrets: config.JWT_PREVIOUS_SECRETS },
        { accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL, refreshTokenTtlSeconds: config.REFRESH_TOKEN_TTL },
      )
      context.out(
        context.json
          ? formatJson(plan)
          : describeRotationPlan(plan, { secretFromFile: Boolean(context.env.JWT_SECRET_FILE) }),
      )
    },
  },
}

/** The bank's settings minus its keys: what the database commands need. */
type DatabaseSettings = Omit<
  BankConfig,
  'JWT_SECRET' | 'JWT_PREVIOUS_SECRETS' | 'JWT_PRIVATE_KEY' | 'JWT_PRIVATE_KEY_FILE' | 'JWT_PUBLISHED_KEYS_FILE'
>

/**
 * The bank's configuration read by the bank's own loader (DATABASE_URL, DATABASE_URL_FILE, DATABASE_PATH,
 * BACKCHANNEL_LOGOUT_URLS, ACCESS_TOKEN_TTL … with the same defaults and checks), without demanding the secret:
 * these commands sign and verify nothing. The loader insists on one (and in development would create the key file),
 * so a throwaway value stands in for it and is dropped at once.
 */
function loadDatabaseSettings(env: NodeJS.ProcessEnv): DatabaseSettings {
  const {
    JWT_SECRET: _secret,
    JWT_PREVIOUS_SECRETS: _previous,
    JWT_PRIVATE_KEY: _privateKey,
    JWT_PRIVATE_KEY_FILE: _privateKeyFile,
    JWT_PUBLISHED_KEYS_FILE: _publishedKeys,
    ...settings
  } = loadBankConfig({
    ...env,
    JWT_ALG: undefined,
    JWT_PRIVATE_KEY: undefined,
    JWT_PRIVATE_KEY_FILE: undefined,
    JWT_PUBLISHED_KEYS_FILE: undefined,
    JWT_SECRET: generateSecret(),
    JWT_SECRET_FILE: undefined,
    JWT_PREVIOUS_SECRETS: undefined,
  })
  return settings
}

interface OpenBank {
  opened: OpenedDatabase<BankDatabase>
  settings: DatabaseSettings
  repositories: { sessions: ReturnType<typeof createSessionsRepository> }
}

/** Opens (and migrates, as the bank would at start) the bank's database for one command, and closes it after. */
async function withDatabase(env: NodeJS.ProcessEnv, use: (bank: OpenBank) => Promise<void>): Promise<void> {
  const settings = loadDatabaseSettings(env)
  if (settings.DATABASE_URL === undefined) {
    // Opening a missing SQLite file would create an empty database: a mistyped path would list no users and look fine.
    if (settings.DATABASE_PATH === ':memory:') {
      throw new AdminError(
        "DATABASE_PATH: ':memory:' lives inside the bank's process; there is nothing to open",
        EXIT_FAILURE,
      )
    }
    if (!existsSync(settings.DATABASE_PATH)) {
      throw new AdminError(
        `DATABASE_PATH: no bank database at ${settings.DATABASE_PATH} (relative paths start in ${process.cwd()}); ` +
          'set DATABASE_PATH or DATABASE_URL as the bank has them',
        EXIT_FAILURE,
      )
    }
  }
  const opened = await openDatabase<BankDatabase>({
    ...(settings.DATABASE_URL === undefined
      ? { databasePath: settings.DATABASE_PATH }
      : { databaseUrl: settings.DATABASE_URL }),
    migrations: bankMigrations,
    legacyVersions: bankLegacyVersions,
    applicationName: 'bank-admin',
    maxConnections: 2,
  })
  try {
    const outbox = createLogoutOutbox(opened, {
      urls: settings.BACKCHANNEL_LOGOUT_URLS,
      accessTokenTtlSeconds: settings.ACCESS_TOKEN_TTL,
    })
    const sessions = createSessionsRepository(opened.db, {
      refreshTokenTtlSeconds: settings.REFRESH_TOKEN_TTL,
      accessTokenTtlSeconds: settings.ACCESS_TOKEN_TTL,
      reuseGraceSeconds: settings.REFRESH_REUSE_GRACE,
      // Listing and revoking never issue or check a refresh token. A throwaway key rather than the bank's: this
      // process could not mint a token the bank accepts even by mistake, and needs no secret to run.
      tokens: createRefreshTokens([generateSecret()]),
      outbox,
    })
    await use({ opened, settings, repositories: { sessions } })
  } finally {
    await opened.db.destroy()
  }
}

async function findUser({ db }: OpenedDatabase<BankDatabase>, username: string): Promise<User> {
  // The bank stores names NFKC-normalised and lowercased, so "Alice" finds alice, as at login.
  const user = await createUsersRepository(db).findByUsername(normalizeUsername(username))
  if (!user) throw new AdminError(`no user named "${printable(username)}"`, EXIT_NOT_FOUND)
  return user
}

/** A driver's message never quotes the URL's password today; this keeps it so if one ever does. */
function withoutDatabasePassword(message: string, env: NodeJS.ProcessEnv): string {
  let passwords: string[] = []
  try {
    const { password } = new URL(env.DATABASE_URL ?? '')
    passwords = [password, decodeURIComponent(password)].filter(Boolean)
  } catch {
    // Unset or not a URL: the config loader refused it before any query ran.
  }
  return passwords.reduce((text, password) => text.replaceAll(password, '***'), message)
}
