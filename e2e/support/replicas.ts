// Several replicas of each service as real processes (the built dist/server.js, as their containers run it), on free
// ports, every replica of a service sharing that service's own PostgreSQL database, as behind a load balancer:
// CONTRACT "Scale-out". Tests pick a replica by index ("register on A, log in on B") or take `next…()` to alternate as
// a round-robin balancer would. The banks post their logout notices through a round-robin proxy in front of the
// retirements, as the scaled compose posts them through nginx.
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type CreatedDatabase, createDatabaseIn } from './postgres-databases.js'
import { RoundRobin, type RoundRobinProxy, startRoundRobinProxy } from './round-robin-proxy.js'
import { E2E_SECRET, type EnvOverrides, findFreePorts, type ServiceName, ServiceProcess } from './start-services.js'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface ReplicaOptions {
  /** How many of each; 2 and 2 by default. */
  banks?: number
  retirements?: number
  /** A superuser URL of the PostgreSQL server to make the two databases in; default: the test run's server. */
  postgresAdminUrl?: string
  /** Overrides for every replica, then per service. */
  env?: EnvOverrides
  bankEnv?: EnvOverrides
  retirementEnv?: EnvOverrides
}

/** One replica: its process (undefined while stopped), its port and its base URL. */
export interface Replica {
  name: ServiceName
  index: number
  port: number
  /** `http://localhost:<port>`: what a client uses, so one cookie jar reaches every replica. */
  url: string
  process: ServiceProcess | undefined
}

/** Replica letters for messages: A, B, C… */
export const replicaLetter = (index: number) => String.fromCharCode(65 + index)

export class ReplicaSet {
  private readonly bankChooser = new RoundRobin(() => this.live('bank'))
  private readonly retirementChooser = new RoundRobin(() => this.live('retirement'))

  private constructor(
    readonly banks: Replica[],
    readonly retirements: Replica[],
    private readonly databases: Record<ServiceName, CreatedDatabase>,
    /** What the banks post logout notices to: retirement's "load balancer". */
    readonly backchannel: RoundRobinProxy,
    private readonly options: ReplicaOptions,
  ) {}

  /**
   * Makes one empty database per service and starts every replica of both at once (so the replicas of a service race
   * to migrate its empty database, as a scaled deployment's first start does); resolves once all are ready (/readyz).
   */
  static async start(options: ReplicaOptions = {}): Promise<ReplicaSet> {
    const bankCount = options.banks ?? 2
    const retirementCount = options.retirements ?? 2
    const adminUrl = options.postgresAdminUrl ?? (await import('./test-databases.js')).requirePostgres()
    const [bankDatabase, retirementDatabase] = await Promise.all([
      createDatabaseIn(adminUrl),
      createDatabaseIn(adminUrl),
    ])
    const ports = await findFreePorts(bankCount + retirementCount)
    const replicasOf = (name: ServiceName, count: number, offset: number): Replica[] =>
      Array.from({ length: count }, (_, index) => {
        const port = ports[offset + index] ?? 0
        return { name, index, port, url: `http://localhost:${port}`, process: undefined }
      })
    const retirements = replicasOf('retirement', retirementCount, bankCount)
    const backchannel = await startRoundRobinProxy(() =>
      retirements.filter((replica) => replica.process?.isRunning).map((replica) => `http://127.0.0.1:${replica.port}`),
    )
    const set = new ReplicaSet(
      replicasOf('bank', bankCount, 0),
      retirements,
      { bank: bankDatabase, retirement: retirementDatabase },
      backchannel,
      options,
    )
    try {
      await Promise.all([...set.banks, ...set.retirements].map((replica) => set.startReplica(replica)))
    } catch (error) {
      await set.stopAll()
      throw error
    }
    return set
  }

  /** The service's DATABASE_URL (a superuser's), for a test that checks what the database holds. */
  databaseUrlOf(name: ServiceName): string {
    return this.databases[name].databaseUrl
  }

  /** The next running bank replica, in turn, as a round-robin load balancer would choose. */
  nextBank(): Replica {
    return this.bankChooser.next()
  }

  nextRetirement(): Replica {
    return this.retirementChooser.next()
  }

  /** The environment a replica starts with: the e2e defaults, its service's database, then the test's overrides. */
  environment(replica: Replica, overrides: EnvOverrides = {}): NodeJS.ProcessEnv {
    const [firstBank] = this.banks
    const [firstRetirement] = this.retirements
    const env: EnvOverrides = {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      COOKIE_SECURE: 'false',
      HOST: '127.0.0.1',
      PORT: String(replica.port),
      JWT_SECRET: E2E_SECRET,
      DATABASE_URL: this.databases[replica.name].databaseUrl,
      // Every replica of a service has the same public URL; behind a real balancer it would be the balancer's.
      BANK_PUBLIC_URL: firstBank?.url,
      RETIREMENT_PUBLIC_URL: firstRetirement?.url,
      LOG_LEVEL: 'info',
      ...(replica.name === 'bank' && { BACKCHANNEL_LOGOUT_URLS: `${this.backchannel.url}/backchannel/logout` }),
      ...this.options.env,
      ...(replica.name === 'bank' ? this.options.bankEnv : this.options.retirementEnv),
      ...overrides,
    }
    return Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined))
  }

  /**
   * Starts a replica (again, after {@link stopReplica}) on its port and database; resolves once `/readyz` answers 200,
   * as a load balancer would wait before sending it traffic (for a retirement: its revocation list loaded and current).
   */
  async startReplica(replica: Replica, overrides: EnvOverrides = {}): Promise<ServiceProcess> {
    if (replica.process?.isRunning) throw new Error(`${this.label(replica)} is already running`)
    const child = spawn(process.execPath, [join('services', replica.name, 'dist', 'server.js')], {
      cwd: repoRoot,
      env: this.environment(replica, overrides),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const started = new ServiceProcess(replica.name, `http://127.0.0.1:${replica.port}`, child)
    replica.process = started
    await started.waitUntilHealthy('/readyz')
    return started
  }

  /** Stops one replica (SIGTERM, or SIGKILL for a crash) and leaves it stopped; resolves with its exit code. */
  async stopReplica(replica: Replica, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null | undefined> {
    return replica.process?.stop(signal)
  }

  /** Stops every replica and the proxy, and drops both databases. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.banks, ...this.retirements].map((replica) => replica.process?.stop()))
    await this.backchannel.close()
    await Promise.all(Object.values(this.databases).map((database) => database.drop()))
  }

  label(replica: Replica): string {
    return `${replica.name} ${replicaLetter(replica.index)}`
  }

  /** Every replica's recent output, for a failing assertion. */
  describe(lines = 20): string {
    return [...this.banks, ...this.retirements]
      .map((replica) => replica.process?.describe(lines).replace(/^--- \w+/, `--- ${this.label(replica)}`) ?? '')
      .join('\n')
  }

  private live(name: ServiceName): Replica[] {
    return (name === 'bank' ? this.banks : this.retirements).filter((replica) => replica.process?.isRunning)
  }
}
