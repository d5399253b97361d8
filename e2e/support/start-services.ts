// Starts the built services as real processes, exactly as their containers do (`node services/*/dist/server.js`,
// configured by environment only), on free ports with throwaway SQLite files, or throwaway PostgreSQL databases (one
// per service) when E2E_DATABASE=postgres (the `e2e-postgres` vitest project). `npm test` builds first; this file
// never builds anything.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type CreatedDatabase, createDatabaseIn } from './postgres-databases.js'

export type ServiceName = 'bank' | 'retirement'
/** Environment overrides; `undefined` removes a variable the harness would otherwise set (e.g. JWT_SECRET). */
export type EnvOverrides = Record<string, string | undefined>

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const healthTimeoutMs = 15_000
/** How long a port must keep answering, while this process stays up, when its logs cannot say it listens. */
const quietListenerGraceMs = 2_000
const healthPollIntervalMs = 50
const stopTimeoutMs = 15_000
const maxOutputLines = 2_000

/** The secret every service gets unless a test says otherwise: 48 random-looking bytes, like `openssl rand`. */
export const E2E_SECRET = 'e2e-5Jq9wLr2Xv8Tz1Kc4Nb7Hm3Pd6Fs0Ga9Ye2Uo5Ii8Ww1Qq4Rr'

/**
 * Free TCP ports on the loopback interface, found by letting the OS pick them and releasing them. All are held
 * open until every one is picked, so the same call never returns one port twice.
 */
export async function findFreePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer())
  const ports = await Promise.all(
    servers.map(
      (server) =>
        new Promise<number>((resolve, reject) => {
          server.on('error', reject)
          server.listen(0, '127.0.0.1', () => {
            const address = server.address()
            if (typeof address === 'object' && address) resolve(address.port)
            else reject(new Error('no port assigned'))
          })
        }),
    ),
  )
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
  return ports
}

/** One free TCP port on the loopback interface. */
export async function findFreePort(): Promise<number> {
  const [port = 0] = await findFreePorts(1)
  return port
}

// A crashed or interrupted test run must not leave services running: kill whatever is left when we exit.
const liveChildren = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL')
})

/** One running service process and everything it printed. */
export class ServiceProcess {
  readonly output: string[] = []
  private exitCode: Promise<number | null>
  private exited = false
  /** This process logged that it listens on its URL (at LOG_LEVEL info or lower). */
  private listeningSeen = false

  constructor(
    readonly name: ServiceName,
    readonly url: string,
    private readonly child: ChildProcess,
  ) {
    const collect = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue
        this.output.push(line)
        if (line.includes(`Server listening at ${url}`)) this.listeningSeen = true
      }
      if (this.output.length > maxOutputLines) this.output.splice(0, this.output.length - maxOutputLines)
    }
    child.stdout?.on('data', collect)
    child.stderr?.on('data', collect)
    liveChildren.add(child)
    this.exitCode = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        liveChildren.delete(child)
        this.exited = true
        if (signal) this.output.push(`[e2e] ${name} ended by ${signal}`)
        resolve(code)
      })
      child.on('error', (error) => {
        this.output.push(`[e2e] could not start ${name}: ${error.message}`)
        this.exited = true
        resolve(null)
      })
    })
  }

  get isRunning() {
    return !this.exited
  }

  /** The operating system's process id (the benchmark reads the process's CPU time from /proc). */
  get pid(): number | undefined {
    return this.child.pid
  }

  /** The last lines the service printed, for an assertion message. */
  describe(lines = 30): string {
    return `--- ${this.name} output (last ${lines} lines) ---\n${this.output.slice(-lines).join('\n')}`
  }

  /**
   * Polls `probe` until it answers 200; fails early if the process exits, and after a bounded time. `/healthz` (the
   * default) says the process serves; `/readyz` also that it may take traffic, as a load balancer would ask.
   */
  async waitUntilHealthy(probe: '/healthz' | '/readyz' = '/healthz'): Promise<void> {
    const deadline = Date.now() + healthTimeoutMs
    let firstAnsweredAt: number | undefined
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`${this.name} exited during start-up\n${this.describe()}`)
      try {
        const response = await fetch(`${this.url}${probe}`, { signal: AbortSignal.timeout(1_000) })
        await response.body?.cancel()
        // A 200 proves the port answers, not that this process holds it: free ports are picked before the processes
        // bind them, and a service of a test file running alongside can take one first (ours then exits with
        // EADDRINUSE). So the answer counts once this process said it listens there, or, when its log level hides
        // that line, once it has stayed up for a while after the port first answered.
        if (response.status === 200) {
          firstAnsweredAt ??= Date.now()
          if (this.listeningSeen || Date.now() - firstAnsweredAt >= quietListenerGraceMs) return
        }
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, healthPollIntervalMs))
    }
    throw new Error(`${this.name} did not answer 200 to ${probe} within ${healthTimeoutMs} ms\n${this.describe()}`)
  }

  /** Sends a signal (SIGTERM by default) and resolves with the exit code; SIGKILL after a bounded wait. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (!this.exited) this.child.kill(signal)
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(resolve, stopTimeoutMs, 'timeout').unref())
    const result = await Promise.race([this.exitCode, timeout])
    if (result !== 'timeout') return result
    this.output.push(`[e2e] ${this.name} did not exit within ${stopTimeoutMs} ms of ${signal}; killing it`)
    this.child.kill('SIGKILL')
    await this.exitCode
    return null
  }
}

export interface StartOptions {
  /** Where both services keep their state; default: E2E_DATABASE, else SQLite. */
  database?: 'sqlite' | 'postgres'
  /** PostgreSQL: a superuser URL of the server to make their databases in; default: the test run's server. */
  postgresAdminUrl?: string
  /** Overrides for both services. */
  env?: EnvOverrides
  bankEnv?: EnvOverrides
  retirementEnv?: EnvOverrides
}

/** The two services, their shared temp folder and ports, started once per test file. */
export class Services {
  private readonly processes = new Map<ServiceName, ServiceProcess>()
  /** PostgreSQL: each service's own database, as its DATABASE_URL; dropped by stopAll. */
  private readonly databases = new Map<ServiceName, CreatedDatabase>()

  private constructor(
    readonly dataDir: string,
    private readonly ports: Record<ServiceName, number>,
    private options: StartOptions,
  ) {}

  /** Which engine the services run on. */
  get database(): 'sqlite' | 'postgres' {
    return this.options.database ?? (process.env.E2E_DATABASE === 'postgres' ? 'postgres' : 'sqlite')
  }

  /** PostgreSQL only: the service's DATABASE_URL, for a test that checks what the database holds. */
  databaseUrlOf(name: ServiceName): string {
    const database = this.databases.get(name)
    if (!database) throw new Error(`${name} does not run on PostgreSQL`)
    return database.databaseUrl
  }

  /** Starts both services and waits until both are healthy. */
  static async start(options: StartOptions = {}): Promise<Services> {
    const dataDir = mkdtempSync(join(tmpdir(), 'bank-sso-e2e-'))
    const [bankPort = 0, retirementPort = 0] = await findFreePorts(2)
    const ports = { bank: bankPort, retirement: retirementPort }
    const services = new Services(dataDir, ports, options)
    try {
      if (services.database === 'postgres') {
        // Imported here, not at the top: it needs vitest, and the bench (a plain Node process) passes its own server.
        const adminUrl = options.postgresAdminUrl ?? (await import('./test-databases.js')).requirePostgres()
        for (const name of ['bank', 'retirement'] as const) {
          services.databases.set(name, await createDatabaseIn(adminUrl))
        }
      }
      await Promise.all([services.launch('bank'), services.launch('retirement')])
    } catch (error) {
      await services.stopAll()
      throw error
    }
    return services
  }

  /** Public URLs use `localhost`, as a browser would, so one cookie jar reaches both ports. */
  get bankUrl() {
    return `http://localhost:${this.ports.bank}`
  }
  get retirementUrl() {
    return `http://localhost:${this.ports.retirement}`
  }

  get bank(): ServiceProcess {
    return this.get('bank')
  }
  get retirement(): ServiceProcess {
    return this.get('retirement')
  }

  private get(name: ServiceName): ServiceProcess {
    const service = this.processes.get(name)
    if (!service) throw new Error(`${name} is not running`)
    return service
  }

  /** The environment a service starts with: production rules, plain http, nothing inherited but PATH. */
  environment(name: ServiceName, overrides: EnvOverrides = {}): NodeJS.ProcessEnv {
    const env: EnvOverrides = {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      // Plain http on localhost: Secure cookies would never come back, so turn it off as a proxy setup would.
      COOKIE_SECURE: 'false',
      HOST: '127.0.0.1',
      PORT: String(this.ports[name]),
      JWT_SECRET: E2E_SECRET,
      ...(this.databases.has(name)
        ? { DATABASE_URL: this.databases.get(name)?.databaseUrl }
        : { DATABASE_PATH: join(this.dataDir, `${name}.sqlite`) }),
      BANK_PUBLIC_URL: this.bankUrl,
      RETIREMENT_PUBLIC_URL: this.retirementUrl,
      LOG_LEVEL: 'info',
      ...this.options.env,
      ...(name === 'bank' ? this.options.bankEnv : this.options.retirementEnv),
      ...overrides,
    }
    return Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined))
  }

  private async launch(name: ServiceName, overrides: EnvOverrides = {}): Promise<ServiceProcess> {
    const child = spawn(process.execPath, [join('services', name, 'dist', 'server.js')], {
      cwd: repoRoot,
      env: this.environment(name, overrides),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const service = new ServiceProcess(name, `http://127.0.0.1:${this.ports[name]}`, child)
    this.processes.set(name, service)
    await service.waitUntilHealthy()
    return service
  }

  /**
   * Starts a service that is expected to refuse to start (bad configuration), on a spare port, and resolves with its
   * exit code and output; kills it if it is still running after a bounded time.
   */
  async runExpectingExit(
    name: ServiceName,
    overrides: EnvOverrides,
    timeoutMs = 10_000,
  ): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
    const [port = 0] = await findFreePorts(1)
    return this.runToExit(
      name,
      [join('services', name, 'dist', 'server.js')],
      { PORT: String(port), ...overrides },
      timeoutMs,
    )
  }

  /**
   * Runs a built script (a service's server, the bank's admin command…) with `name`'s environment plus `overrides`,
   * and resolves with its exit code and output once it exits; kills it if it is still running after `timeoutMs`.
   */
  async runToExit(
    name: ServiceName,
    argv: string[],
    overrides: EnvOverrides = {},
    timeoutMs = 10_000,
  ): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, argv, {
      cwd: repoRoot,
      env: this.environment(name, overrides),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    liveChildren.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8')
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    const exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    clearTimeout(timer)
    liveChildren.delete(child)
    return { exitCode, stdout, stderr }
  }

  /** Stops one service (SIGTERM) and starts it again on the same port and database, with new overrides. */
  async restart(name: ServiceName, overrides: EnvOverrides = {}): Promise<number | null> {
    const exitCode = await this.get(name).stop()
    await this.launch(name, overrides)
    return exitCode
  }

  /** Replaces the overrides both services start with from now on, and restarts both. */
  async restartAll(options: StartOptions): Promise<void> {
    this.options = { ...options, database: this.database }
    await Promise.all([this.restart('bank'), this.restart('retirement')])
  }

  /** Stops one service and leaves it stopped; resolves with its exit code. */
  async stopOne(name: ServiceName): Promise<number | null> {
    return this.get(name).stop()
  }

  /** Starts a service that was stopped with {@link stopOne}. */
  async startOne(name: ServiceName, overrides: EnvOverrides = {}): Promise<void> {
    if (this.processes.get(name)?.isRunning) throw new Error(`${name} is already running`)
    await this.launch(name, overrides)
  }

  /** SIGTERM to both, then the temp folder goes; resolves with each exit code. */
  async stopAll(): Promise<Record<ServiceName, number | null | undefined>> {
    const codes = await Promise.all(
      (['bank', 'retirement'] as const).map(async (name) => [name, await this.processes.get(name)?.stop()] as const),
    )
    rmSync(this.dataDir, { recursive: true, force: true })
    await Promise.all([...this.databases.values()].map((database) => database.drop()))
    this.databases.clear()
    return Object.fromEntries(codes) as Record<ServiceName, number | null | undefined>
  }

  /** Both services' recent output, for a failing assertion. */
  describe(): string {
    return [...this.processes.values()].map((service) => service.describe()).join('\n')
  }
}
