// The whole path on the real Apache Kafka cluster, through the real Gateway and a validated config:
// simulator -> durable queue -> Kafka sink, read back by kcat and by Kafka's own console consumer; and MQTT
// publishers (MQTT.js, QoS 1) -> embedded broker -> queue -> Kafka with CBOR values. Broker outages are in
// faults.test.ts (a cluster of its own, since they stop nodes).
import { decode } from 'cbor-x';
import mqtt from 'mqtt';
import { beforeAll, expect, test } from 'vitest';
import { validateConfig } from '../../../gateway/config/load.js';
import type { ReadingRecord } from '../../../gateway/reading.js';
import { Gateway } from '../../../gateway/runtime/gateway.js';
import { tempDir } from '../../helpers/tmp.js';
import { until } from '../../helpers/wait.mjs';
import {
  consoleConsume,
  createTopic,
  kcatReadValues,
  sharedKafka,
  uniqueTopic,
} from '../../peers/kafka/index.js';
import { freePort } from '../../helpers/net.mjs';
import { assertBuilt, consume, dedupProblems } from './helpers.js';

const kafka = sharedKafka();
beforeAll(() => assertBuilt());

const METRICS = ['temperature', 'humidity', 'pressure']; // the simulator's defaults
const range = (n: number, first = 1): number[] => Array.from({ length: n }, (_, i) => first + i);

function config(id: string, sources: Record<string, unknown>, sink: Record<string, unknown>) {
  return validateConfig({
    gateway: { id, data_dir: tempDir() },
    log: { level: 'silent' },
    sources,
    // Defaults otherwise: idempotent producer, acks all.
    sinks: { kafka: { type: 'kafka', brokers: kafka.bootstrap, start_from: 'oldest', ...sink } },
  });
}

test(`simulator -> queue -> Apache Kafka ${kafka.version}: every reading once per (gateway, seq), per-device order, headers as Kafka's own consumer sees them`, async () => {
  const prefix = uniqueTopic('e2e');
  for (const m of METRICS) await createTopic(kafka, `${prefix}.${m}`, { partitions: 3 });
  const gw = await Gateway.start(
    config(
      'gw-e2e',
      { sim: { type: 'simulator', devices: 20, interval_ms: 5, count: 6_000 } },
      { topic: `${prefix}.{metric}` },
    ),
  );
  const origin = gw.queue.origin; // a new queue numbers from the clock
  try {
    await until(
      () => gw.queue.lastSeq === origin + 5_999 && gw.queue.cursorPosition('kafka') === origin + 5_999,
      { timeoutMs: 60_000, what: 'drained' },
    );
    expect(gw.status().sinks[0]).toMatchObject({ connected: true, health: { state: 'healthy' } });
  } finally {
    await gw.stop();
  }
  const got = await consume(kafka, ...METRICS.map((m) => `${prefix}.${m}`));
  expect(got).toHaveLength(6_000); // no fault, so no duplicate either
  expect(dedupProblems(got, range(6_000, origin))).toEqual([]);
  expect(new Set(got.map((g) => g.rec.device)).size).toBe(20);
  expect(got.every((g) => g.msg.topic === `${prefix}.${g.rec.metric}` && g.msg.key === g.rec.device)).toBe(
    true,
  );

  // Kafka's own Java consumer reads the same records, values and headers from one of the topics.
  const topic = `${prefix}.temperature`;
  const fromKcat = got.filter((g) => g.msg.topic === topic);
  const fromJava = await consoleConsume(kafka, topic, fromKcat.length);
  expect(fromJava).toHaveLength(fromKcat.length);
  const byId = new Map(fromKcat.map((g) => [g.rec.id, g]));
  for (const m of fromJava) {
    const rec = JSON.parse(m.value ?? 'null') as ReadingRecord;
    const k = byId.get(rec.id);
    expect(k?.rec).toEqual(rec);
    expect(m.key).toBe(rec.device);
    expect(m.partition).toBe(k?.msg.partition);
    expect(m.headers).toEqual([
      ['sluice-gateway', 'gw-e2e'],
      ['sluice-seq', String(rec.seq)],
      ['sluice-source', 'sim'],
      ['content-type', 'application/json'],
    ]);
  }
});

test('MQTT QoS 1 publishers -> embedded broker -> queue -> Kafka as CBOR: every PUBACKed reading exactly once, per-device order', async () => {
  const prefix = uniqueTopic('mqtt');
  await createTopic(kafka, `${prefix}.temperature`, { partitions: 3 });
  const port = await freePort();
  const gw = await Gateway.start(
    config(
      'gw-mqtt',
      {
        sensors: {
          type: 'mqtt_broker',
          listeners: [{ type: 'tcp', host: '127.0.0.1', port, allow_anonymous: true }],
          topics: [{ topic: 'sensors/{device}/{metric}', decoder: 'json' }],
        },
      },
      { topic: `${prefix}.{metric}`, value_format: 'cbor' },
    ),
  );
  const DEVICES = 10;
  const EACH = 200;
  const origin = gw.queue.origin;
  try {
    // One client per device, each publishing its values 0..EACH-1 in order and awaiting every PUBACK.
    await Promise.all(
      range(DEVICES, 0).map(async (d) => {
        const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
          clientId: `dev-${d}`,
          reconnectPeriod: 0,
        });
        try {
          for (let i = 0; i < EACH; i++) {
            await client.publishAsync(
              `sensors/dev-${d}/temperature`,
              JSON.stringify({ value: i, unit: 'C' }),
              {
                qos: 1,
              },
            );
          }
        } finally {
          await client.endAsync();
        }
      }),
    );
    const total = DEVICES * EACH;
    await until(
      () =>
        gw.queue.lastSeq === origin + total - 1 && gw.queue.cursorPosition('kafka') === origin + total - 1,
      { timeoutMs: 60_000, what: 'drained' },
    );
  } finally {
    await gw.stop();
  }
  const records = (await kcatReadValues(kafka, `${prefix}.temperature`)).map(
    (b) => decode(b) as ReadingRecord,
  );
  expect(records).toHaveLength(DEVICES * EACH);
  expect(new Set(records.map((r) => r.id)).size).toBe(DEVICES * EACH);
  for (let d = 0; d < DEVICES; d++) {
    const mine = records.filter((r) => r.device === `dev-${d}`);
    // Kafka order within the device's partition is publish order: the values come back 0, 1, 2, ...
    expect(mine.map((r) => r.value)).toEqual(range(EACH, 0));
    expect(mine.every((r) => r.unit === 'C' && r.gateway === 'gw-mqtt' && r.id === `gw-mqtt:${r.seq}`)).toBe(
      true,
    );
  }
});
