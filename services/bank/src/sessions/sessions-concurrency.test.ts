// Races on PostgreSQL, as replicas meet them: several processes' connection pools on one database. Each "replica" here
// is its own openDatabase (its own pool of up to 10 connections), so the statements really run at the same time in
// different PostgreSQL backends, which SQLite's one connection per process never does.
import { type OpenedDatabase, openDatabase } from '@sso/shared/db'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase } from '../../../../e2e/support/test-databases.js'
import type { BankDatabase } from '../db/bank-database.js'
import { bankMigrations } from '../db/migrations/index.js'
import { createUsersRepository } from '../identity/users-repository.js'
import { createRefreshTokens } from './refresh-token.js'
import { createSessionsRepository, type Rotation, type SessionsRepository } from './sessions-repository.js'

const replicaCount = 4
const sessionCount = 1_000
const presentationsPerToken = 8
const tokensPerWave = 25

describe.skipIf(inject('postgresUnavailable') !== '')(
  'refresh rotation on PostgreSQL, several replicas at once',
  () => {
    let drop: () => Promise<void>
    let replicas: Array<OpenedDatabase<BankDatabase>>
    let sessions: SessionsRepository[]
    beforeAll(async () => {
      const database = await createTestDatabase()
      drop = database.drop
      replicas = []
      for (let index = 0; index < replicaCount; index++) {
        replicas.push(
          await openDatabase<BankDatabase>({ databaseUrl: database.databaseUrl, migrations: bankMigrations }),
        )
      }
      const tokens = createRefreshTokens(['a test secret of at least 32 bytes, not used elsewhere'])
      sessions = replicas.map(({ db }) =>
        createSessionsRepository(db, {
          refreshTokenTtlSeconds: 3600,
          accessTokenTtlSeconds: 900,
          reuseGraceSeconds: 10,
          tokens,
          outbox: { enqueue: async () => {}, announce: () => {} },
        }),
      )
    })
    afterAll(async () => {
      await Promise.all(replicas.map(({ db }) => db.destroy()))
      await drop()
    })

    it(`mints exactly ${sessionCount} successors for ${sessionCount} tokens presented ${presentationsPerToken} times at once`, async () => {
      const [first] = replicas as [OpenedDatabase<BankDatabase>]
      const { id: userId } = await createUsersRepository(first.db).insert('alice', 'not-a-real-hash')
      const opened = []
      for (let index = 0; index < sessionCount; index++) opened.push(await sessions[0]!.open(userId, undefined))

      // Each token's 8 presentations at once, spread over the replicas, 25 tokens (200 requests on 40 connections)
      // at a time: bigger waves queue longer for a connection than the pools' 5 s wait allows while other test files
      // share the server and the two cores, and the race that matters is between the presentations of one token.
      const rotations: Array<{ index: number; rotation: Rotation }> = []
      for (let start = 0; start < sessionCount; start += tokensPerWave) {
        const wave = opened.slice(start, start + tokensPerWave)
        const answers = await Promise.all(
          wave.flatMap(({ refreshToken }, offset) =>
            Array.from({ length: presentationsPerToken }, (_, copy) =>
              sessions[(start + offset + copy) % replicaCount]!.rotate(refreshToken).then((rotation) => ({
                index: start + offset,
                rotation,
              })),
            ),
          ),
        )
        rotations.push(...answers)
      }

      expect(rotations.filter(({ rotation }) => rotation.outcome !== 'rotated')).toEqual([])
      const successorsBySession = new Map<number, Set<string>>()
      for (const { index, rotation } of rotations) {
        if (rotation.outcome !== 'rotated') continue
        const successors = successorsBySession.get(index) ?? new Set()
        successors.add(rotation.refreshToken)
        successorsBySession.set(index, successors)
      }
      // One successor per session, whoever asked and wherever: no session forked.
      expect([...successorsBySession.values()].every((successors) => successors.size === 1)).toBe(true)
      expect(
        new Set(rotations.map(({ rotation }) => (rotation.outcome === 'rotated' ? rotation.refreshToken : ''))).size,
      ).toBe(sessionCount)
      // One winner per token; the other seven got the same successor through the grace window.
      expect(rotations.filter(({ rotation }) => rotation.outcome === 'rotated' && !rotation.replayed)).toHaveLength(
        sessionCount,
      )
      const generations = await first.db
        .selectFrom('loginSessions')
        .select(({ fn }) => ['generation', fn.countAll<number>().as('count')])
        .groupBy('generation')
        .execute()
      expect(generations).toEqual([{ generation: 1, count: sessionCount }])
      // Each successor is its session's current token: it rotates once more, anywhere.
      const next = await Promise.all(
        [...successorsBySession.values()].map(([successor], index) =>
          sessions[index % replicaCount]!.rotate(successor!),
        ),
      )
      expect(next.filter((rotation) => rotation.outcome !== 'rotated')).toEqual([])
    })
  },
)
