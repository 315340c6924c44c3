// The whole path: simulator -> durable queue -> Kafka sink -> mock cluster, through the real Gateway and a
// validated config, read back with kcat; then the same path through an outage of every broker.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { validateConfig } from '../../gateway/config/load.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import { tempDir } from '../helpers/tmp.js';
import { startMockCluster, type MockCluster } from '../peers/kafka-mock/index.js';
import { assertBuilt, consume, dedupProblems, until } from './kafka-helpers.js';

let cluster: MockCluster;
beforeAll(async () => {
  assertBuilt();
  cluster = await startMockCluster({ brokers: 3 });
});
afterAll(async () => {
  await cluster?.close();
});

const METRICS = ['temperature', 'humidity', 'pressure']; // the simulator's defaults
const range = (n: number, first = 1): number[] => Array.from({ length: n }, (_, i) => first + i);

function config(id: string, source: Record<string, unknown>, sink: Record<string, unknown> = {}) {
  return validateConfig({
    gateway: { id, data_dir: tempDir() },
    log: { level: 'silent' },
    sources: { sim: { type: 'simulator', ...source } },
    // Retry settings left at the Kafka sink's defaults: the outage test measures what an operator gets.
    sinks: {
      kafka: {
        type: 'kafka',
        brokers: cluster.bootstrap,
        topic: `${id}.{metric}`,
        idempotent: false,
        start_from: 'oldest',
        ...sink,
      },
    },
  });
}

test('simulator -> queue -> Kafka: kcat reads every reading once per (gateway, seq), in per-device order', async () => {
  for (const m of METRICS) await cluster.createTopic(`e2e.${m}`, 3, 3);
  const gw = await Gateway.start(config('e2e', { devices: 20, interval_ms: 5, count: 6_000 }));
  const origin = gw.queue.origin; // a new queue numbers from the clock
  try {
    await until(
      () => gw.queue.lastSeq === origin + 5_999 && gw.queue.cursorPosition('kafka') === origin + 5_999,
      30_000,
      'drained',
    );
    expect(gw.status().sinks[0]).toMatchObject({ connected: true, health: { state: 'healthy' } });
  } finally {
    await gw.stop();
  }
  const got = await consume(cluster, ...METRICS.map((m) => `e2e.${m}`));
  expect(got).toHaveLength(6_000); // no fault, so no duplicate either
  expect(dedupProblems(got, range(6_000, origin))).toEqual([]);
  expect(new Set(got.map((g) => g.rec.device)).size).toBe(20);
  expect(got.every((g) => g.msg.topic === `e2e.${g.rec.metric}` && g.msg.key === g.rec.device)).toBe(true);
});

// 12 s by default to keep the suite short; SLUICE_KAFKA_OUTAGE_MS=60000 runs the full minute.
const OUTAGE_MS = Number(process.env.SLUICE_KAFKA_OUTAGE_MS ?? 12_000);

test(
  `every broker down for ${OUTAGE_MS / 1000} s while ingest goes on: the backlog drains, nothing lost, back within 5 s`,
  async () => {
    for (const m of METRICS) await cluster.createTopic(`outage.${m}`, 3, 3);
    // 9 readings per 20 ms tick, for longer than the outage lasts.
    const count = 9 * Math.ceil((OUTAGE_MS + 6_000) / 20);
    const gw = await Gateway.start(config('outage', { devices: 3, interval_ms: 20, count }));
    const origin = gw.queue.origin;
    const lag = (): number => gw.queue.cursorStats('kafka').lag;
    try {
      await until(() => gw.queue.cursorPosition('kafka') > origin + 500, 20_000, 'first deliveries');
      await cluster.down(-1);
      const downAt = Date.now();
      const seqAtDown = gw.queue.lastSeq;
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      const ingested = gw.queue.lastSeq - seqAtDown;
      const backlog = lag();
      const failures = gw.status().sinks[0]?.consecutiveFailures ?? 0;
      await cluster.up(-1);
      const upAt = Date.now();
      await until(() => (gw.status().sinks[0]?.lastAckAt ?? 0) > upAt, 10_000, 'first ack after the outage');
      const reconnectMs = (gw.status().sinks[0]?.lastAckAt ?? 0) - upAt;
      console.info(
        `kafka outage ${Date.now() - downAt - reconnectMs} ms: ${ingested} readings ingested meanwhile, backlog ${backlog}, ` +
          `${failures} failed attempts; first ack ${reconnectMs} ms after the brokers came back`,
      );
      expect(ingested).toBeGreaterThan(1_000); // ingest went on
      expect(backlog).toBeGreaterThanOrEqual(ingested); // and piled up in the queue
      expect(failures).toBeGreaterThan(2);
      expect(reconnectMs).toBeLessThan(5_000);
      await until(() => gw.queue.lastSeq === origin + count - 1 && lag() === 0, 60_000, 'backlog drained');
      expect(gw.status().sinks[0]?.health.state).toBe('healthy');
    } finally {
      await gw.stop();
    }
    const got = await consume(cluster, ...METRICS.map((m) => `outage.${m}`));
    expect(dedupProblems(got, range(count, origin))).toEqual([]);
  },
  60_000 + OUTAGE_MS * 2,
);
