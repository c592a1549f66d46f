import { defineConfig } from 'vitest/config';

// Unit tests are fast and need no root or network; integration and e2e tests drive the real host
// tools (mmdebstrap, e2fsprogs, QEMU, ...) and run one file at a time on this 2-core machine.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          testTimeout: 60 * 60_000,
          hookTimeout: 60 * 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
