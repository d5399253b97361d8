// "A session revoked through one bank replica is refused by every bank replica at once" (CONTRACT, Scale-out): two
// bank apps on one database, as two replicas behind a load balancer. The bank reads the session's row on every
// authenticated request (read-through, see refusesAccessTokensOf), so the very next request on the other replica
// already sees the revocation; nothing has to travel between the replicas.
import { decodeToken, injectInto, logIn, register } from '@sso/shared/testing'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { describeEachEngine } from '../../../../e2e/support/test-databases.js'
import type { App } from '../app.js'
import { bankMigrations } from '../db/migrations/index.js'
import { alice, buildTestApp, databaseConfig } from '../test-app.js'

describeEachEngine('revocations across bank replicas', (engine) => {
  let replicaA: App
  let replicaB: App
  beforeEach(async () => {
    const database = databaseConfig(await engine.createDatabase(bankMigrations))
    replicaA = await buildTestApp(database)
    replicaB = await buildTestApp(database)
    await register(injectInto(replicaA), alice)
  })
  afterEach(async () => {
    await Promise.all([replicaA.close(), replicaB.close()])
  })

  const me = (replica: App, accessToken: string) =>
    replica.inject({ url: '/api/me', headers: { authorization: `Bearer ${accessToken}` } })

  it('a logout through A: B refuses the access token on the very next request', async () => {
    const { accessToken, cookies } = await logIn(injectInto(replicaB), alice)
    expect((await me(replicaA, accessToken)).statusCode).toBe(200)
    expect((await me(replicaB, accessToken)).statusCode).toBe(200)

    expect((await replicaA.inject({ method: 'POST', url: '/api/logout', cookies })).statusCode).toBe(204)
    const onB = await me(replicaB, accessToken)
    expect(onB.statusCode).toBe(401)
    expect(onB.headers['www-authenticate']).toMatch(/^Bearer/)
    expect((await me(replicaA, accessToken)).statusCode).toBe(401)
  })

  it('a session ended from the list on B, and "log out everywhere" on A: refused at once by the other replica', async () => {
    const kept = await logIn(injectInto(replicaA), alice)
    const ended = await logIn(injectInto(replicaA), alice)
    const deleted = await replicaB.inject({
      method: 'DELETE',
      url: `/api/sessions/${decodeToken(ended.accessToken).claims.sid}`,
      headers: { authorization: `Bearer ${kept.accessToken}` },
    })
    expect(deleted.statusCode).toBe(204)
    expect((await me(replicaA, ended.accessToken)).statusCode).toBe(401)
    expect((await me(replicaA, kept.accessToken)).statusCode).toBe(200)

    const other = await logIn(injectInto(replicaB), alice)
    const everywhere = await replicaA.inject({
      method: 'POST',
      url: '/api/logout',
      headers: { authorization: `Bearer ${kept.accessToken}` },
      payload: { everywhere: true },
    })
    expect(everywhere.statusCode).toBe(204)
    expect((await me(replicaB, kept.accessToken)).statusCode).toBe(401)
    expect((await me(replicaB, other.accessToken)).statusCode).toBe(401)
  })
})
