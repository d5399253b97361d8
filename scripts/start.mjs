// `npm start`: build what is stale, then run bank and retirement side by side for local development.
// `npm run dev` (--watch): the same, then rebuild on every change (tsc --build --watch) and restart a service when
// its compiled code changes (node --watch).
// In a terminal, the services' JSON log lines are printed readably by pino-pretty (a dev dependency); piped or
// redirected, they stay JSON. Otherwise plain Node, so it works straight after `npm install` and documents itself.
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const usage = 'usage: node scripts/start.mjs [--watch]'
const [mode, ...extra] = process.argv.slice(2)
if ((mode !== undefined && mode !== '--watch') || extra.length > 0) {
  console.error(usage)
  process.exit(2)
}
const watch = mode === '--watch'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
// Services resolve data/ relative to the working directory, so always run from the root.
process.chdir(repoRoot)

const secretPath = join('data', 'jwt-secret')
const healthTimeoutHintMs = 30_000
const healthPollIntervalMs = 250
// npm forwards Ctrl-C to us and the terminal sends it too: signals this close together are one keypress, not two.
const duplicateSignalWindowMs = 1_000

/** Reads BANK_PORT / RETIREMENT_PORT; a service's own PORT variable would be ambiguous with two services. */
function readPort(variable, fallback) {
  const raw = process.env[variable]
  if (raw === undefined || raw === '') return fallback
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    fail(`${variable} must be a port number between 1 and 65535, got "${raw}"`)
  }
  return port
}

function fail(message) {
  console.error(`[start] ${message}`)
  process.exit(1)
}

/** tsc's script, found through typescript's package.json: TypeScript 7 exports no `typescript/bin/tsc` path. */
function findTsc() {
  let manifestPath
  try {
    manifestPath = createRequire(import.meta.url).resolve('typescript/package.json')
  } catch {
    fail('TypeScript is not installed: run `npm install` first.')
  }
  const { bin } = JSON.parse(readFileSync(manifestPath, 'utf8'))
  return join(dirname(manifestPath), typeof bin === 'string' ? bin : bin.tsc)
}

function buildStaleParts(tscPath) {
  console.log('[start] building (tsc --build, only what changed)…')
  // Calling tsc through the current node avoids depending on npx or PATH.
  const build = spawnSync(process.execPath, [tscPath, '--build'], { stdio: 'inherit' })
  if (build.status !== 0)
    fail(`the build failed; fix the errors above and run \`npm ${watch ? 'run dev' : 'start'}\` again.`)
}

/**
 * Turns one pino JSON line into readable lines when we print to a terminal; elsewhere (a pipe, a file, CI) the lines
 * stay JSON for whatever reads them. Lines that are not JSON (a crash's stack trace) pass through either way.
 */
async function createLogFormatter() {
  if (!process.stdout.isTTY) return (line) => [line]
  try {
    const { prettyFactory } = await import('pino-pretty')
    const pretty = prettyFactory({ translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true })
    return (line) => pretty(line).replace(/\n$/, '').split('\n')
  } catch {
    console.log('[start] pino-pretty is not installed (npm install without --omit=dev adds it); logs stay JSON.')
    return (line) => [line]
  }
}

/**
 * Makes sure both services get the same signing key without any setup. A key the user already configured wins:
 * the services treat JWT_SECRET and JWT_SECRET_FILE together as an error, so we only add ours when neither is set.
 */
function resolveSecretEnv() {
  // A key pair: no shared secret at all (both services refuse one). The bank generates its private key into
  // data/jwt-private-key-<alg>.pem (mode 0600) on its first development start; retirement fetches the public key.
  if (['ES256', 'EdDSA'].includes(process.env.JWT_ALG ?? '')) {
    console.log(`[start] JWT_ALG=${process.env.JWT_ALG}: the bank signs with its own key pair, no shared secret`)
    return {}
  }
  if (process.env.JWT_SECRET || process.env.JWT_SECRET_FILE) {
    console.log('[start] using the JWT secret from your environment')
    return {}
  }
  // 0700: the folder also holds the databases, with every password hash.
  mkdirSync('data', { recursive: true, mode: 0o700 })
  try {
    // 'wx' fails if the file exists, so a second `npm start` (or a racing service) keeps the first key and
    // tokens issued before a restart stay valid. Mode 0600: the key lets anyone mint tokens for any user.
    writeFileSync(secretPath, randomBytes(48).toString('base64url'), { flag: 'wx', mode: 0o600 })
    console.log(`[start] generated a development secret in ${secretPath} (kept across restarts)`)
  } catch (error) {
    if (error.code !== 'EEXIST') throw error
    if (readFileSync(secretPath, 'utf8').trim() === '') fail(`${secretPath} is empty: delete it to get a new one.`)
    // An older or hand-made file may be readable by others; tighten it rather than refuse to start.
    if ((statSync(secretPath).mode & 0o077) !== 0) chmodSync(secretPath, 0o600)
  }
  return { JWT_SECRET_FILE: secretPath }
}

/**
 * BANK_DATABASE_URL / RETIREMENT_DATABASE_URL: PostgreSQL, a database of its own for each service (retirement never
 * reads the bank's). A plain DATABASE_URL would hand both services the same one, so it is refused here.
 */
function readDatabaseUrls() {
  if (process.env.DATABASE_URL) {
    fail('DATABASE_URL would give both services one database: set BANK_DATABASE_URL and RETIREMENT_DATABASE_URL.')
  }
  return {
    bank: process.env.BANK_DATABASE_URL || undefined,
    retirement: process.env.RETIREMENT_DATABASE_URL || undefined,
  }
}

const databaseUrls = readDatabaseUrls()
const bankPort = readPort('BANK_PORT', 3000)
const retirementPort = readPort('RETIREMENT_PORT', 3001)
if (bankPort === retirementPort) fail('BANK_PORT and RETIREMENT_PORT must differ.')

const tscPath = findTsc()
buildStaleParts(tscPath)
const formatLog = await createLogFormatter()

const publicUrls = {
  BANK_PUBLIC_URL: process.env.BANK_PUBLIC_URL || `http://localhost:${bankPort}`,
  RETIREMENT_PUBLIC_URL: process.env.RETIREMENT_PUBLIC_URL || `http://localhost:${retirementPort}`,
}
const sharedEnv = { ...process.env, ...resolveSecretEnv(), ...publicUrls }
// Poll where the services listen; a wildcard address is reachable through loopback.
const probeHost = ['', '0.0.0.0', '::', undefined].includes(process.env.HOST) ? '127.0.0.1' : process.env.HOST

const services = [
  { name: 'bank', port: bankPort, url: publicUrls.BANK_PUBLIC_URL },
  { name: 'retirement', port: retirementPort, url: publicUrls.RETIREMENT_PUBLIC_URL },
].map(startService)
const compiler = watch ? startCompiler() : undefined

let shuttingDown = false
let firstSignalAt = 0
let exitCode = 0

/** Prints a child's output line by line, each line prefixed with the child's name so the two services interleave. */
function forwardOutput(child, name, format = (line) => [line]) {
  const prefix = `[${name}]`
  createInterface({ input: child.stdout }).on('line', (line) => {
    for (const formatted of format(line)) process.stdout.write(`${prefix} ${formatted}\n`)
  })
  createInterface({ input: child.stderr }).on('line', (line) => process.stderr.write(`${prefix} ${line}\n`))
}

function startService(service) {
  const server = join('services', service.name, 'dist', 'server.js')
  // node --watch restarts the server when a file it imported changes (its own dist/ and shared/dist/), stopping the
  // old one with SIGTERM, which the services answer with their graceful shutdown. It keeps the screen uncleared, as
  // two services share it.
  const args = watch ? ['--watch', '--watch-preserve-output', server] : [server]
  const child = spawn(process.execPath, args, {
    env: {
      ...sharedEnv,
      PORT: String(service.port),
      ...(databaseUrls[service.name] ? { DATABASE_URL: databaseUrls[service.name] } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group: Ctrl-C reaches only us, and we forward it once. The services treat a second signal
    // as "exit now", which would skip their graceful shutdown.
    detached: true,
  })
  forwardOutput(child, service.name, formatLog)
  const running = { ...service, child, exited: false }
  child.on('error', (error) => {
    console.error(`[start] could not start ${service.name}: ${error.message}`)
  })
  // 'close' rather than 'exit': it waits for the output pipes, so a crash's last lines print before our verdict.
  child.on('close', (code, signal) => onServiceExit(running, code, signal))
  return running
}

function onServiceExit(service, code, signal) {
  service.exited = true
  const how = signal ? `signal ${signal}` : `exit code ${code}`
  if (!shuttingDown) {
    console.error(`[start] ${service.name} stopped unexpectedly (${how}); stopping the other service.`)
    exitCode = 1
    stopAll('SIGTERM')
  } else if (code !== 0 && signal === null) {
    // Ended by the signal we sent is expected (a service still booting has no handler yet); a failing code is not.
    console.error(`[start] ${service.name} did not shut down cleanly (${how}).`)
    exitCode = 1
  }
  if (services.every((s) => s.exited)) process.exit(exitCode)
}

/** `npm run dev`: tsc rebuilds what each change touches; node --watch then restarts the service that uses it. */
function startCompiler() {
  // --preserveWatchOutput: tsc would otherwise clear the terminal the services print to.
  const child = spawn(process.execPath, [tscPath, '--build', '--watch', '--preserveWatchOutput'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  // tsc separates its reports with blank lines; prefixed, they are only noise.
  forwardOutput(child, 'tsc', (line) => (line.trim() === '' ? [] : [line]))
  const running = { child, exited: false }
  child.on('error', (error) => console.error(`[start] could not start tsc --watch: ${error.message}`))
  child.on('close', (code, signal) => {
    running.exited = true
    if (shuttingDown) return
    console.error(`[start] tsc --watch stopped unexpectedly (${signal ? `signal ${signal}` : `exit code ${code}`}).`)
    exitCode = 1
    stopAll('SIGTERM')
  })
  return running
}

function stopAll(signal) {
  shuttingDown = true
  if (compiler && !compiler.exited) compiler.child.kill(signal)
  for (const service of services) {
    if (!service.exited) service.child.kill(signal)
  }
}

function onSignal(signal) {
  const now = Date.now()
  if (!shuttingDown) {
    firstSignalAt = now
    console.log(`\n[start] ${signal}: stopping both services (press Ctrl-C again to force)…`)
    stopAll(signal)
  } else if (now - firstSignalAt > duplicateSignalWindowMs) {
    console.log('[start] forcing both services to stop')
    exitCode = 1
    stopAll('SIGKILL')
  }
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)
// Detached children would outlive us if this script crashed; take them down with it.
process.on('exit', () => {
  for (const service of services) if (!service.exited) service.child.kill('SIGTERM')
  if (compiler && !compiler.exited) compiler.child.kill('SIGTERM')
})

async function isHealthy(port) {
  try {
    const response = await fetch(`http://${probeHost.includes(':') ? `[${probeHost}]` : probeHost}:${port}/healthz`, {
      signal: AbortSignal.timeout(1_000),
    })
    return response.ok
  } catch {
    return false
  }
}

async function announceWhenHealthy() {
  const startedAt = Date.now()
  let hinted = false
  while (!shuttingDown) {
    const health = await Promise.all(services.map((s) => isHealthy(s.port)))
    if (health.every(Boolean)) break
    if (!hinted && Date.now() - startedAt > healthTimeoutHintMs) {
      hinted = true
      const waitingFor = services.filter((_, i) => !health[i]).map((s) => `${s.name} (port ${s.port})`)
      console.log(`[start] still waiting for ${waitingFor.join(' and ')} to answer /healthz…`)
    }
    await new Promise((resolve) => setTimeout(resolve, healthPollIntervalMs))
  }
  if (shuttingDown) return
  const [bank, retirement] = services
  console.log(
    [
      '',
      '[start] both services are up:',
      `          bank        ${bank.url}`,
      `          retirement  ${retirement.url}`,
      `        Open ${bank.url}, register an account, then follow the link to the retirement app:`,
      '        you arrive there already signed in. Press Ctrl-C to stop both.',
      ...(watch ? ['        Watching: a saved change is rebuilt and the services using it restart.'] : []),
      '',
    ].join('\n'),
  )
}

announceWhenHealthy()
