// No Docker engine runs where these tests run, so the container setup is checked the ways that work without one:
// docker-compose validates the file, and the invariants that make `docker compose up` work are asserted on the
// parsed YAML and Dockerfiles. Where a piece is a program (the init script, the health checks) it is run for real.
import { execFile, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { bearer, HttpClient, readJson } from './support/http-client.js'
import { findFreePorts, type ServiceName, ServiceProcess } from './support/start-services.js'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
const composeText = readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8')
/** The Node.js major the project runs on; images, CI and version managers all follow `.nvmrc`. */
const pinnedNodeMajor = readFileSync(join(repoRoot, '.nvmrc'), 'utf8').trim()
// `merge` resolves the `<<: *common-environment` keys the way docker-compose does.
const compose = parse(composeText, { merge: true }) as ComposeFile
const serviceNames = ['bank', 'retirement'] as const
const publicUrlVariable = { bank: 'BANK_PUBLIC_URL', retirement: 'RETIREMENT_PUBLIC_URL' } as const

interface ComposeService {
  image?: string
  build?: { context?: string; dockerfile?: string }
  command?: string | string[]
  environment?: Record<string, string | number | boolean | null> | string[]
  volumes?: (string | { type?: string; source?: string; target?: string; read_only?: boolean })[]
  ports?: (string | number | { target?: number; published?: number | string })[]
  depends_on?: string[] | Record<string, { condition?: string }>
  healthcheck?: { test?: string | string[] }
  restart?: string
  read_only?: boolean
  cap_drop?: string[]
  cap_add?: string[]
  security_opt?: string[]
  mem_limit?: string
  tmpfs?: string[]
  network_mode?: string
}
interface ComposeFile {
  services: Record<string, ComposeService>
  volumes?: Record<string, unknown>
}
interface Mount {
  source: string
  target: string
  readOnly: boolean
}

function service(name: string): ComposeService {
  const found = compose.services[name]
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`)
  return found
}

/** Resolves `${VAR:-default}`, `${VAR-default}`, `${VAR}` and `$$` as compose does, for a given .env. */
function interpolate(value: string, dotEnv: Record<string, string> = {}): string {
  return value.replace(
    /\$\$|\$\{(\w+)(?:(:?-)([^}]*))?\}/g,
    (match, name?: string, operator?: string, fallback = '') => {
      if (match === '$$') return '$'
      const given = dotEnv[name as string]
      if (operator === ':-') return given ? given : fallback
      if (operator === '-') return given ?? fallback
      return given ?? ''
    },
  )
}

/** The environment a container gets, as if started with the given .env (none by default: zero setup). */
function environmentOf(name: string, dotEnv: Record<string, string> = {}): Record<string, string> {
  const raw = service(name).environment ?? {}
  const entries = Array.isArray(raw)
    ? raw.map((entry) => [entry.split('=')[0] ?? '', entry.slice(entry.indexOf('=') + 1)] as const)
    : Object.entries(raw).map(([key, value]) => [key, String(value ?? '')] as const)
  return Object.fromEntries(entries.map(([key, value]) => [key, interpolate(value, dotEnv)]))
}

function mountsOf(name: string): Mount[] {
  return (service(name).volumes ?? []).map((volume) => {
    if (typeof volume !== 'string') {
      return { source: volume.source ?? '', target: volume.target ?? '', readOnly: volume.read_only === true }
    }
    const [source = '', target = '', mode = ''] = volume.split(':')
    return { source, target, readOnly: mode.split(',').includes('ro') }
  })
}

/** The mount a path lives on: the deepest target that contains it. */
function mountHolding(name: string, path: string): Mount | undefined {
  return mountsOf(name)
    .filter((mount) => path.startsWith(`${mount.target.replace(/\/$/, '')}/`))
    .sort((a, b) => b.target.length - a.target.length)[0]
}

function isNamedVolume(source: string) {
  return source in (compose.volumes ?? {})
}

/** The ports a service publishes, as `docker compose up` with the given .env publishes them. */
function publishedPorts(
  name: string,
  dotEnv: Record<string, string> = {},
): { address: string; published: number; target: number }[] {
  return (service(name).ports ?? []).map((port) => {
    if (typeof port === 'object') throw new Error('long-form ports are not used here')
    const parts = interpolate(String(port), dotEnv).split(':')
    return {
      address: parts.length === 3 ? (parts[0] ?? '') : '0.0.0.0',
      published: Number(parts.at(-2)),
      target: Number(parts.at(-1)),
    }
  })
}

interface DockerfileStage {
  /** The image or earlier stage this one starts from. */
  from: string
  /** Its `AS` name, which a later FROM may start from. */
  name?: string
  instructions: { keyword: string; argument: string }[]
}

/**
 * Splits the one Dockerfile into stages of instructions, as built with `--build-arg SERVICE=<service>`: the argument
 * is substituted wherever it appears, continuation lines are joined and comments dropped.
 */
function readDockerfile(service: string): DockerfileStage[] {
  const logicalLines = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')
    .replace(/\$\{SERVICE\}|\$SERVICE\b/g, service)
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
  const stages: DockerfileStage[] = []
  for (const line of logicalLines) {
    const [, keyword = '', argument = ''] = line.match(/^(\S+)\s*(.*)$/) ?? []
    if (keyword.toUpperCase() === 'FROM') {
      const [from = '', as, name] = argument.split(/\s+/)
      stages.push({ from, ...(as?.toUpperCase() === 'AS' && { name }), instructions: [] })
    } else stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), argument })
  }
  return stages
}

/**
 * The image a service runs: the last stage, together with the stages it starts from (`FROM <stage>`), as one stage
 * whose `from` is the base image and whose instructions run in build order, so ENV, USER and WORKDIR carry over.
 */
function runtimeStage(name: string): DockerfileStage {
  const stages = readDockerfile(name)
  const last = stages.at(-1)
  if (!last) throw new Error('the Dockerfile has no FROM')
  const chain = [last]
  for (let base = last; ; ) {
    const earlier = stages.find((stage) => stage.name === base.from)
    if (!earlier) break
    chain.unshift(earlier)
    base = earlier
  }
  return { from: chain[0]?.from ?? '', instructions: chain.flatMap((stage) => stage.instructions) }
}

/** The variables an image's ENV instructions set (`ENV KEY=value KEY2=value2`; values hold no spaces here). */
function imageEnvironment(stage: DockerfileStage): Record<string, string> {
  const pairs = stage.instructions
    .filter(({ keyword }) => keyword === 'ENV')
    .flatMap(({ argument }) => argument.split(/\s+/))
    .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] as const)
  return Object.fromEntries(pairs)
}

/** Where the image's CMD runs, as a folder of this repository: the image's /app holds the same layout. */
function workingDirectoryOf(stage: DockerfileStage): string {
  const workdir = lastInstruction(stage, 'WORKDIR') ?? ''
  if (!workdir.startsWith('/app')) throw new Error(`WORKDIR ${workdir} is outside /app`)
  return join(repoRoot, workdir.slice('/app'.length))
}

function lastInstruction(stage: DockerfileStage, keyword: string) {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword).at(-1)?.argument
}

/** A health-check command as argv, from compose's `[CMD, ...]` / `[CMD-SHELL, ...]` or a Dockerfile's `CMD [...]`. */
function healthCommandArgv(test: string | string[]): string[] {
  const [kind, ...rest] = typeof test === 'string' ? ['CMD-SHELL', test] : test
  if (kind === 'CMD') return rest
  if (kind === 'CMD-SHELL') return ['sh', '-c', rest.join(' ')]
  throw new Error(`unsupported health check ${JSON.stringify(test)}`)
}

function runProgram(argv: string[], env: Record<string, string>) {
  const [program = '', ...args] = argv
  // Resolve `node` to this very node, as the image's PATH would resolve it to the image's.
  const executable = program === 'node' ? process.execPath : program
  return new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = execFile(executable, args, { env: { ...process.env, ...env }, timeout: 10_000 }, (error, _, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stderr }),
    )
    child.stdin?.end()
  })
}

/** Runs a health check against a stand-in service on a free port, answering `status` on /healthz only. */
async function runHealthCheck(argv: string[], healthStatus: number) {
  const requestedPaths: string[] = []
  const server = createServer((request, response) => {
    requestedPaths.push(request.url ?? '')
    response.writeHead(request.url === '/healthz' ? healthStatus : 404, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ status: healthStatus === 200 ? 'ok' : 'error' }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  try {
    const { code } = await runProgram(argv, { PORT: String(port) })
    return { code, requestedPaths }
  } finally {
    await new Promise((resolve) => server.close(resolve))
  }
}

describe('docker-compose.yml', () => {
  it('is accepted by docker-compose config', (context) => {
    const result = spawnSync('docker-compose', ['--file', 'docker-compose.yml', 'config', '--quiet'], {
      cwd: repoRoot,
      encoding: 'utf8',
    })
    const missing = (result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
    // CI installs it (.ci/run), so there a missing binary is a broken setup, not a reason to skip.
    if (missing && process.env.CI !== 'true') {
      context.skip('docker-compose is not installed; install the Debian package docker-compose to run this check')
    }
    expect(missing, 'docker-compose is not installed (CI=true): .ci/run should install docker-compose').toBe(false)
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
  })

  it('runs init-secret on the same Node.js image the services are built on', () => {
    expect(service('init-secret').image).toBe(`node:${pinnedNodeMajor}-slim`)
  })

  it('gives both services the secret file that init-secret fills before they start', () => {
    const init = environmentOf('init-secret')
    const secretFiles = serviceNames.map((name) => environmentOf(name).JWT_SECRET_FILE)
    expect(secretFiles[0]).toMatch(/^\//)
    expect(secretFiles[1]).toBe(secretFiles[0])
    const secretFile = secretFiles[0] as string
    expect(init.SECRET_FILE, 'init-secret writes where the services read').toBe(secretFile)

    const initMount = mountHolding('init-secret', secretFile)
    expect(initMount && isNamedVolume(initMount.source), 'the secret lives on a named volume').toBe(true)
    for (const name of serviceNames) {
      // Setting JWT_SECRET as well as JWT_SECRET_FILE is a config error, so a user's secret reaches the file instead.
      expect(environmentOf(name, { JWT_SECRET: 'from-dot-env' }).JWT_SECRET, name).toBeUndefined()
      expect(mountHolding(name, secretFile), name).toEqual({ ...initMount, readOnly: true })
      expect(service(name).depends_on, name).toMatchObject({
        'init-secret': { condition: 'service_completed_successfully' },
      })
    }
    expect(environmentOf('init-secret', { JWT_SECRET: 'from-dot-env' }).JWT_SECRET).toBe('from-dot-env')
    expect(environmentOf('init-secret').JWT_SECRET ?? '').toBe('')
  })

  it('keeps each database on its own writable named volume', () => {
    const sources = serviceNames.map((name) => {
      const databasePath = environmentOf(name).DATABASE_PATH ?? ''
      expect(databasePath, name).toMatch(/^\/.+\.sqlite$/)
      const mount = mountHolding(name, databasePath)
      expect(mount, `${name}: ${databasePath} is not on a volume`).toBeDefined()
      expect(isNamedVolume(mount?.source ?? ''), `${name}: ${mount?.source} is not a declared named volume`).toBe(true)
      expect(mount?.readOnly, name).toBe(false)
      return mount?.source
    })
    expect(new Set(sources).size).toBe(serviceNames.length)
  })

  it('publishes each service on the port it listens on, the one its public URL names', () => {
    for (const name of serviceNames) {
      const environment = environmentOf(name)
      const listenPort = Number(environment.PORT)
      expect(environment.HOST, `${name} must listen beyond the container's loopback`).toBe('0.0.0.0')
      const published = Number(new URL(environment[publicUrlVariable[name]] ?? '').port)
      expect(publishedPorts(name), name).toEqual([{ address: '127.0.0.1', published, target: listenPort }])
      // Widened only when .env asks for it.
      expect(publishedPorts(name, { PUBLISH_ADDRESS: '0.0.0.0' }), name).toEqual([
        { address: '0.0.0.0', published, target: listenPort },
      ])
    }
    expect(environmentOf('bank').PORT).not.toBe(environmentOf('retirement').PORT)
  })

  it('serves metrics on a management port of each service, never published to the host', () => {
    for (const name of serviceNames) {
      const environment = environmentOf(name)
      const managementPort = Number(environment.MANAGEMENT_PORT)
      expect(managementPort, name).toBeGreaterThan(0)
      expect(managementPort, name).not.toBe(Number(environment.PORT))
      const published = publishedPorts(name)
      expect(
        published.map((port) => port.target),
        name,
      ).not.toContain(managementPort)
      expect(
        published.map((port) => port.published),
        name,
      ).not.toContain(managementPort)
    }
  })

  it('runs every container read-only, without capabilities or privilege gain, within a memory limit', () => {
    for (const [name, definition] of Object.entries(compose.services)) {
      expect(definition.read_only, name).toBe(true)
      expect(definition.cap_drop, name).toEqual(['ALL'])
      expect(definition.security_opt, name).toContain('no-new-privileges:true')
      expect(definition.mem_limit, name).toMatch(/^\d+[mg]$/)
    }
    // Only init-secret gets capabilities back: to chown the file (CHOWN) and read the one it kept (DAC_READ_SEARCH).
    expect(service('init-secret').cap_add).toEqual(['CHOWN', 'DAC_READ_SEARCH'])
    for (const name of serviceNames) {
      expect(service(name).cap_add, name).toBeUndefined()
      // SQLite's temporary files; the database stays on its volume, never on the tmpfs.
      expect(service(name).tmpfs, name).toEqual([expect.stringMatching(/^\/tmp(:|$)/)])
      expect(environmentOf(name).DATABASE_PATH, name).not.toMatch(/^\/tmp\//)
    }
  })

  it('runs init-secret without any network', () => {
    expect(service('init-secret').network_mode).toBe('none')
  })

  it('restarts the services unless stopped, and runs init-secret once', () => {
    for (const name of serviceNames) expect(service(name).restart, name).toBe('unless-stopped')
    expect(service('init-secret').restart ?? 'no').toBe('no')
  })

  it('documents in .env.example every variable it reads from .env', () => {
    const documented = readFileSync(join(repoRoot, '.env.example'), 'utf8')
    const read = [...composeText.matchAll(/\$\{(\w+)/g)].map((match) => match[1])
    expect(read.length).toBeGreaterThan(0)
    for (const variable of new Set(read)) expect(documented, variable).toMatch(new RegExp(`^# ${variable}=`, 'm'))
  })
})

/** The init-secret script, runnable here: it chowns the file to the services' uid, which only root may do. */
const initScript = `if (process.getuid() !== 0) require('node:fs').chownSync = () => {}\n${
  (service('init-secret').command as string[]).at(-1) ?? ''
}`

function runInit(secretFile: string, jwtSecret = '') {
  return spawnSync(process.execPath, ['-e', initScript], {
    env: { PATH: process.env.PATH, SECRET_FILE: secretFile, JWT_SECRET: jwtSecret },
    encoding: 'utf8',
  })
}

describe('the init-secret script', () => {
  it('generates a secret once, keeps it, and lets a supplied one win', () => {
    const directory = mkdtempSync(join(tmpdir(), 'sso-secret-'))
    try {
      const secretFile = join(directory, 'jwt-secret')
      expect(runInit(secretFile).status).toBe(0)
      const generated = readFileSync(secretFile, 'utf8')
      expect(Buffer.byteLength(generated)).toBeGreaterThanOrEqual(32)
      expect(statSync(secretFile).mode & 0o777).toBe(0o600)
      if (process.getuid?.() === 0) expect(statSync(secretFile).uid).toBe(1000)

      expect(runInit(secretFile).status).toBe(0)
      expect(readFileSync(secretFile, 'utf8')).toBe(generated)

      const supplied = 'a-secret-the-user-chose-of-at-least-32-bytes'
      expect(runInit(secretFile, supplied).status).toBe(0)
      expect(readFileSync(secretFile, 'utf8')).toBe(supplied)
      expect(statSync(secretFile).mode & 0o777).toBe(0o600)

      const tooShort = runInit(secretFile, 'short')
      expect(tooShort.status).not.toBe(0)
      expect(tooShort.stderr).toContain('JWT_SECRET')
      expect(readFileSync(secretFile, 'utf8')).toBe(supplied)
    } finally {
      rmSync(directory, { recursive: true, force: true })
    }
  })

  it('never prints the secret', () => {
    const directory = mkdtempSync(join(tmpdir(), 'sso-secret-'))
    try {
      const secretFile = join(directory, 'jwt-secret')
      const supplied = 'another-secret-the-user-chose-32-bytes-long'
      writeFileSync(secretFile, 'old')
      const result = runInit(secretFile, supplied)
      expect(result.status).toBe(0)
      expect(result.stdout + result.stderr).not.toContain(supplied)
    } finally {
      rmSync(directory, { recursive: true, force: true })
    }
  })
})

describe('the Dockerfile', () => {
  /** The build's first step, run here as the build runs it: a shell with SERVICE set by `--build-arg`. */
  const checkService = (value: string) => {
    const check = readDockerfile(value)
      .flatMap((stage) => stage.instructions)
      .find(({ keyword, argument }) => keyword === 'RUN' && argument.startsWith('case '))
    expect(check, 'the Dockerfile no longer checks SERVICE').toBeDefined()
    return spawnSync('sh', ['-c', check?.argument ?? ''], { encoding: 'utf8' })
  }

  it('builds only bank or retirement, and says so for anything else', () => {
    for (const name of serviceNames) expect(checkService(name).status, name).toBe(0)
    for (const value of ['', 'Bank', 'shared', 'bank retirement']) {
      const refused = checkService(value)
      expect(refused.status, value).not.toBe(0)
      expect(refused.stderr).toContain('SERVICE must be bank or retirement')
    }
  })
})

describe.each(serviceNames)('the %s container', (name) => {
  const stage = runtimeStage(name)

  it('runs node services/<name>/dist/server.js under /app, the compiled server e2e starts', () => {
    expect(service(name).build).toEqual({ context: '.', dockerfile: 'Dockerfile', args: { SERVICE: name } })
    expect(service(name).command, 'compose must not override the image command').toBeUndefined()
    const [program, script = '', ...rest] = JSON.parse(lastInstruction(stage, 'CMD') ?? '[]') as string[]
    expect([program, ...rest]).toEqual(['node'])
    expect(join(workingDirectoryOf(stage), script)).toBe(join(repoRoot, `services/${name}/dist/server.js`))
    // The path is the build output of src/server.ts, as e2e and `npm start` run it.
    const tsconfig = JSON.parse(readFileSync(join(repoRoot, `services/${name}/tsconfig.json`), 'utf8'))
    expect(tsconfig.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' })
    expect(existsSync(join(repoRoot, `services/${name}/src/server.ts`)), 'src/server.ts is missing').toBe(true)
  })

  it('builds and runs on the Node.js major the project pins (.nvmrc), as CI tests it', () => {
    const stages = readDockerfile(name)
    for (const { from } of stages) {
      if (from.startsWith('node:')) expect(from).toBe(`node:${pinnedNodeMajor}-slim`)
    }
    expect(stages.filter(({ from }) => from.startsWith('node:')).length).toBeGreaterThan(0)
  })

  it('installs with the repository install-script approvals: the root package.json is in place before npm ci', () => {
    const stages = readDockerfile(name)
    const instructions = stages.flatMap((buildStage) => buildStage.instructions)
    const firstInstall = instructions.findIndex(
      ({ keyword, argument }) => keyword === 'RUN' && /\bnpm ci\b/.test(argument),
    )
    const manifestsCopied = instructions.findIndex(
      ({ keyword, argument }) => keyword === 'COPY' && /^package\.json package-lock\.json \.\/$/.test(argument),
    )
    expect(firstInstall).toBeGreaterThan(-1)
    expect(manifestsCopied).toBeGreaterThan(-1)
    expect(manifestsCopied).toBeLessThan(firstInstall)
    // npm 11 (in node:24-slim as on a developer's machine) runs only the install scripts package.json approves.
    const rootManifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'))
    expect(rootManifest.allowScripts).toMatchObject({ argon2: true, 'better-sqlite3': true })
  })

  it('runs as a non-root user, on the current LTS slim image, its migrations compiled into dist', () => {
    expect(stage.from).toBe(`node:${pinnedNodeMajor}-slim`)
    const user = lastInstruction(stage, 'USER')
    expect(user, 'the runtime stage sets no USER').toBeDefined()
    expect(user).not.toMatch(/^(root|0)(:|$)/)
    const copies = stage.instructions.filter((instruction) => instruction.keyword === 'COPY')
    expect(copies.map((copy) => copy.argument)).toContainEqual(
      expect.stringMatching(new RegExp(`/app/services/${name}/dist\\s+services/${name}/dist$`)),
    )
  })

  it('listens on the port compose publishes, and keeps its database in /data, even without compose', () => {
    const environment = imageEnvironment(stage)
    expect(environment.PORT).toBe(environmentOf(name).PORT)
    expect(lastInstruction(stage, 'EXPOSE')?.replace(/\$\{PORT\}/, environment.PORT ?? '')).toBe(environment.PORT)
    // Not set by the image (DATABASE_URL beside it would be refused): the default data/<service>.sqlite, in the
    // working directory, is /data through a link.
    expect(environment.DATABASE_PATH).toBeUndefined()
    const workdir = lastInstruction(stage, 'WORKDIR')
    expect(workdir).toBe(`/app/services/${name}`)
    expect(stage.instructions.filter((instruction) => instruction.keyword === 'RUN')).toContainEqual({
      keyword: 'RUN',
      argument: `mkdir /data && chown node:node /data && ln -s /data ${workdir}/data`,
    })
  })

  const composeHealthCheck = () => healthCommandArgv(service(name).healthcheck?.test ?? [])
  const imageHealthCheck = () => {
    const argument = lastInstruction(stage, 'HEALTHCHECK') ?? ''
    return JSON.parse(argument.slice(argument.indexOf('CMD ') + 4)) as string[]
  }
  it.each([
    ['compose', composeHealthCheck],
    ['Dockerfile', imageHealthCheck],
  ])('%s health check passes only when /healthz on PORT answers 200', async (_, healthCheck) => {
    const argv = healthCheck()
    const healthy = await runHealthCheck(argv, 200)
    expect(healthy.code).toBe(0)
    expect(healthy.requestedPaths).toEqual(['/healthz'])
    const unhealthy = await runHealthCheck(argv, 503)
    expect(unhealthy.code).not.toBe(0)
  })

  it('health check fails when nothing listens on PORT', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    await new Promise((resolve) => server.close(resolve))
    const { code } = await runProgram(composeHealthCheck(), { PORT: String(port) })
    expect(code).not.toBe(0)
  })
})

describe('both services started as compose starts them', () => {
  // Each image's CMD, run from its WORKDIR's place in the repository (the image's /app holds the same layout), with
  // the compose environment: production rules, the secret only as the file the init script writes. Only what a container
  // gets from Docker itself differs: free ports instead of 3000/3001, and temp folders standing in for volumes.
  let directory = ''
  const running = new Map<ServiceName, ServiceProcess>()
  const ports: Record<ServiceName, number> = { bank: 0, retirement: 0 }
  const managementPorts: Record<ServiceName, number> = { bank: 0, retirement: 0 }
  const urlOf = (name: ServiceName) => `http://localhost:${ports[name]}`

  function serviceOf(name: ServiceName): ServiceProcess {
    const found = running.get(name)
    if (!found) throw new Error(`${name} did not start`)
    return found
  }

  function launch(name: ServiceName, secretFile: string) {
    const environment = environmentOf(name)
    const stage = runtimeStage(name)
    const [program = '', ...args] = JSON.parse(lastInstruction(stage, 'CMD') ?? '[]') as string[]
    mkdirSync(join(directory, name))
    const child = spawn(program === 'node' ? process.execPath : program, args, {
      cwd: workingDirectoryOf(stage),
      env: {
        PATH: process.env.PATH,
        ...environment,
        PORT: String(ports[name]),
        MANAGEMENT_PORT: String(managementPorts[name]),
        JWT_SECRET_FILE: secretFile,
        DATABASE_PATH: join(directory, name, basename(environment.DATABASE_PATH ?? '')),
        BANK_PUBLIC_URL: urlOf('bank'),
        RETIREMENT_PUBLIC_URL: urlOf('retirement'),
        ...(environment.BACKCHANNEL_LOGOUT_URLS && {
          BACKCHANNEL_LOGOUT_URLS: `${urlOf('retirement')}/backchannel/logout`,
        }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const started = new ServiceProcess(name, `http://127.0.0.1:${ports[name]}`, child)
    running.set(name, started)
    return started.waitUntilHealthy()
  }

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'bank-sso-compose-'))
    const secretFile = join(directory, 'sso-secret', 'jwt-secret')
    mkdirSync(dirname(secretFile))
    expect(runInit(secretFile).status).toBe(0)
    const [bank = 0, retirement = 0, bankManagement = 0, retirementManagement = 0] = await findFreePorts(4)
    Object.assign(ports, { bank, retirement })
    Object.assign(managementPorts, { bank: bankManagement, retirement: retirementManagement })
    await Promise.all(serviceNames.map((name) => launch(name, secretFile)))
  })

  afterAll(async () => {
    await Promise.all([...running.values()].map((started) => started.stop('SIGKILL')))
    rmSync(directory, { recursive: true, force: true })
  })

  it.each(serviceNames)('%s passes its compose health check', async (name) => {
    const { code, stderr } = await runProgram(healthCommandArgv(service(name).healthcheck?.test ?? []), {
      PORT: String(ports[name]),
    })
    expect(code, `${stderr}\n${serviceOf(name).describe()}`).toBe(0)
  })

  it.each(serviceNames)('%s serves /metrics on its management port, and not on its public one', async (name) => {
    const metrics = await fetch(`http://127.0.0.1:${managementPorts[name]}/metrics`)
    expect(metrics.status, serviceOf(name).describe()).toBe(200)
    expect(await metrics.text()).toMatch(new RegExp(`^process_cpu_user_seconds_total\\{service="${name}"\\} `, 'm'))
    expect((await fetch(`${urlOf(name)}/metrics`)).status).toBe(404)
  })

  it('signs in once at the bank and is known at retirement, by cookie and by bearer token', async () => {
    const client = new HttpClient()
    const username = `compose_${randomBytes(4).toString('hex')}`
    const password = 'correct horse battery staple'
    const registered = await client.sendJson('POST', `${urlOf('bank')}/api/register`, { username, password })
    expect(registered.status, serviceOf('bank').describe()).toBe(201)
    const login = await client.sendJson('POST', `${urlOf('bank')}/api/login`, { username, password })
    expect(login.status, serviceOf('bank').describe()).toBe(200)
    const { data: accessToken } = await readJson(login)

    const byCookie = await client.get(`${urlOf('retirement')}/api/me`)
    expect(byCookie.status, serviceOf('retirement').describe()).toBe(200)
    expect((await readJson(byCookie)).data).toMatchObject({ username })
    const byBearer = await fetch(`${urlOf('retirement')}/api/me`, { headers: bearer(accessToken) })
    expect(byBearer.status).toBe(200)
  })

  it('stops each service with exit code 0 on SIGTERM, as `docker compose stop` sends', async () => {
    const codes = await Promise.all(serviceNames.map((name) => serviceOf(name).stop('SIGTERM')))
    expect(codes, serviceNames.map((name) => serviceOf(name).describe()).join('\n')).toEqual([0, 0])
  })
})
