import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['apps/*/src/**/*.spec.ts', 'libs/*/src/**/*.spec.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // V8 11.3 (Node 20) sometimes miscompiled a folded allocation in optimised code and the test
    // process died with SIGSEGV (docs/ARCHITECTURE.md "A V8 crash"); initBackend sets the same flag.
    poolOptions: { forks: { execArgv: ['--no-turbo-allocation-folding'] } },
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
