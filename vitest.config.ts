import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**'],
    // One real Kafka cluster for the run, when the run has a test that uses it (sharedKafka()).
    globalSetup: ['test/peers/kafka/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: integration tests start real peers; keep parallelism modest so they stay stable.
    maxWorkers: 2,
  },
});
