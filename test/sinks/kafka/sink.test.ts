// The Kafka sink against a real Apache Kafka 4.x cluster (test/peers/kafka/: 3 KRaft nodes, acks all,
// idempotent producer as configured by default), read back with kcat: the shared conformance suite, the
// messages it writes, dead letters the broker itself refuses, the producer thread dying, and the config it
// accepts. Faults that need a chosen error code in a chosen request stay on librdkafka's mock
// (mock-faults.test.ts); brokers killed and lost responses are in faults.test.ts.
import { decode } from 'cbor-x';
import fc from 'fast-check';
import { Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { noMetrics, type ComponentMetrics } from '../../../gateway/metrics-spec.js';
import { toRecord, type QueuedReading } from '../../../gateway/reading.js';
import { encodeValue } from '../../../gateway/sinks/kafka/encode.js';
import { schema } from '../../../gateway/sinks/kafka/schema.js';
import type { ProducerThread } from '../../../gateway/sinks/kafka/thread.js';
import { topicProblem } from '../../../gateway/sinks/kafka/topics.js';
import { reading, readings } from '../../helpers/readings.js';
import { until } from '../../helpers/wait.mjs';
import { KafkaFaultProxy, createTopic, sharedKafka, uniqueTopic } from '../../peers/kafka/index.js';
import { sinkConformance, type Delivered } from '../conformance.js';
import {
  GATEWAY,
  KAFKA_CLIENTS,
  assertBuilt,
  consume,
  dedupProblems,
  kafkaPipeline,
  kafkaSink as anySink,
} from './helpers.js';

const cluster = sharedKafka();
// This file owns the shared cluster's PROXIED listeners: a network outage for the conformance suite.
let proxies: KafkaFaultProxy[] = [];
beforeAll(async () => {
  assertBuilt();
  proxies = await KafkaFaultProxy.forCluster(cluster);
});
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
});

const queued = (seq: number, over: Parameters<typeof reading>[1] = {}): QueuedReading => ({
  ...reading(seq, over),
  seq,
});
const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

async function freshTopic(
  partitions: number,
  prefix = 't',
  config: Record<string, string> = {},
): Promise<string> {
  const topic = uniqueTopic(prefix);
  await createTopic(cluster, topic, { partitions, config });
  return topic;
}

describe.each(KAFKA_CLIENTS)('client: %s', (client) => {
  /** A sink as configured by default (idempotent, acks all), on this client. */
  const kafkaSink = (over: Record<string, unknown> = {}, metrics: ComponentMetrics = noMetrics) =>
    anySink(cluster, { idempotent: true, client, ...over }, metrics);

  sinkConformance(`kafka (${client}) on Apache Kafka ${cluster.version}`, async () => {
    const topic = await freshTopic(1, 'conformance'); // one partition: a total order to compare against
    return {
      exactlyOnce: false,
      create: () =>
        anySink({ bootstrap: KafkaFaultProxy.bootstrap(cluster) }, { topic, idempotent: true, client }),
      delivered: async () =>
        (await consume(cluster, topic)).map(({ rec }) => ({
          seq: rec.seq,
          id: rec.id,
          device: rec.device,
          value: rec.value,
        })) satisfies Delivered[],
      // The network to every broker goes down (connections cut, new ones refused) and comes back. A higher
      // min.insync.replicas than the topic's replicas would not do: Kafka 4 caps it at the replication
      // factor (KIP-966). Killing brokers is for faults.test.ts, which has a cluster of its own.
      breakUpstream: () => Promise.resolve(proxies.forEach((p) => p.down())),
      healUpstream: () => Promise.resolve(proxies.forEach((p) => p.up())),
    };
  });

  describe('kafka sink: messages', () => {
    test('each reading is one message keyed by device, with dedup headers and the toRecord value', async () => {
      const topic = await freshTopic(3);
      const sink = kafkaSink({ topic, compression: 'gzip' });
      await sink.connect();
      const batch = range(1, 30).map((s) => queued(s));
      expect(await sink.write(batch)).toEqual({}); // in flight: reported by the next write or flush
      expect(await sink.flush('idle')).toEqual({ committedThrough: 30, bytes: expect.any(Number) });
      await sink.close();
      const got = await consume(cluster, topic);
      expect(dedupProblems(got, range(1, 30))).toEqual([]);
      const m = got.find((g) => g.rec.seq === 8)!;
      expect(m.rec).toEqual(toRecord(GATEWAY, queued(8)));
      expect(m.msg.key).toBe('dev-1');
      expect(m.msg.timestamp).toBe(queued(8).ts);
      expect(m.msg.headers).toEqual([
        ['sluice-gateway', GATEWAY],
        ['sluice-seq', '8'],
        ['sluice-source', 'test'],
        ['content-type', 'application/json'],
      ]);
      // Same key, same partition: a device's readings sit in one partition, in order.
      for (const dev of new Set(got.map((g) => g.msg.key))) {
        expect(new Set(got.filter((g) => g.msg.key === dev).map((g) => g.msg.partition)).size).toBe(1);
      }
    });

    test('topic templates route by reading fields', async () => {
      const route = uniqueTopic('route');
      const sink = kafkaSink({ topic: `${route}.{metric}.{source}` });
      await sink.connect();
      await createTopic(cluster, `${route}.temperature.test`);
      await createTopic(cluster, `${route}.humidity.test`);
      await sink.write([queued(1), queued(2, { metric: 'humidity' }), queued(3)]);
      expect(await sink.flush('shutdown')).toEqual({ committedThrough: 3, bytes: expect.any(Number) });
      await sink.close();
      expect((await consume(cluster, `${route}.temperature.test`)).map((g) => g.rec.seq)).toEqual([1, 3]);
      expect((await consume(cluster, `${route}.humidity.test`)).map((g) => g.rec.seq)).toEqual([2]);
    });

    test('JSON values are JSON.stringify(toRecord(...)), byte for byte, whatever the fields hold', () => {
      const text = fc.string({ unit: 'binary' });
      const value = fc.oneof(
        fc.double(),
        fc.integer(),
        fc.boolean(),
        text,
        fc.dictionary(text, fc.oneof(fc.double(), text, fc.constant(null))),
      );
      const r = fc.record(
        {
          seq: fc.nat(),
          device: text,
          metric: text,
          value,
          ts: fc.oneof(fc.integer(), fc.double()),
          source: text,
          unit: text,
          tags: fc.dictionary(text, text),
        },
        { requiredKeys: ['seq', 'device', 'metric', 'value', 'ts', 'source'] },
      );
      fc.assert(
        fc.property(text, r, (gw, q) => {
          expect(encodeValue('json', gw, q)).toBe(JSON.stringify(toRecord(gw, q)));
        }),
        { numRuns: 2_000 },
      );
    });

    test('CBOR values are plain CBOR maps of the same record', () => {
      const r = queued(5, { value: { lat: 1.5, lon: 2 } });
      const bytes = encodeValue('cbor', GATEWAY, r) as Buffer;
      expect(bytes[0]! >> 5).toBe(5); // major type 5: a map, not a cbor-x record extension
      expect(decode(bytes)).toEqual(toRecord(GATEWAY, r));
    });
  });

  describe('kafka sink: dead letters', () => {
    test('an illegal expanded topic and an oversized message are dead letters; the rest flows', async () => {
      const dl = uniqueTopic('dl');
      await createTopic(cluster, `${dl}.temperature`, { partitions: 2 });
      const dlq = await freshTopic(1, 'dead');
      const { queue, runner } = kafkaPipeline(
        kafkaSink({ topic: `${dl}.{metric}`, max_message_bytes: 2_000, dead_letter_topic: dlq }),
        50,
      );
      await runner.start();
      const input = readings(100).map((r, i) => {
        if (i === 10) return { ...r, metric: 'bad metric/with spaces' };
        if (i === 60) return { ...r, value: 'x'.repeat(5_000) };
        return r;
      });
      await queue.append(input);
      await until(() => queue.cursorPosition('kafka') === 100, { timeoutMs: 20_000 });
      await runner.stop();
      const dead = queue.deadLetters('kafka');
      expect(dead.map((d) => [d.seq, d.code])).toEqual([
        [11, 'SLUICE_SINK_REJECTED'],
        [61, 'SLUICE_SINK_REJECTED'],
      ]);
      expect(dead[0]!.message).toMatch(/INVALID_TOPIC: illegal topic .*outside \[a-zA-Z0-9._-\]/);
      expect(dead[1]!.message).toMatch(
        /MESSAGE_TOO_LARGE: the message is \d+ bytes, over max_message_bytes \(2000\)/,
      );
      expect(dead[1]!.reading?.value).toBe('x'.repeat(5_000)); // parked whole, not dropped
      const got = await consume(cluster, `${dl}.temperature`);
      expect(
        dedupProblems(
          got,
          range(1, 100).filter((s) => s !== 11 && s !== 61),
        ),
      ).toEqual([]);
      const notes = (await consume(cluster, dlq)).map(
        (g) => g.rec as unknown as { seq: number; error: { code: string } },
      );
      expect(notes.map((n) => [n.seq, n.error.code])).toEqual([
        [11, 'SLUICE_SINK_REJECTED'],
        [61, 'SLUICE_SINK_REJECTED'],
      ]);
      await queue.close();
    });

    // librdkafka names Kafka's MESSAGE_TOO_LARGE (code 10) MSG_SIZE_TOO_LARGE.

    test("a reading over the topic's max.message.bytes is refused by the broker, isolated from its batch and parked; the others are delivered", async () => {
      // The broker, not the sink, enforces this limit: the sink's own max_message_bytes stays at 1 MB.
      const topic = await freshTopic(1, 'too-large', { 'max.message.bytes': '2000' });
      const errors: string[] = [];
      const metrics: ComponentMetrics = {
        ...noMetrics,
        error: (stage, kind) => errors.push(`${stage}/${kind}`),
      };
      const sink = kafkaSink({ topic }, metrics);
      await sink.connect();
      const batch = range(1, 5).map((s) => queued(s, s === 3 ? { value: 'x'.repeat(5_000) } : {}));
      await sink.write(batch);
      const progress = await sink.flush('idle');
      await sink.close();
      expect(progress.committedThrough).toBe(5);
      expect(progress.deadLetters?.map((d) => [d.reading.seq, d.error.code])).toEqual([
        [3, 'SLUICE_SINK_REJECTED'],
      ]);
      expect(progress.deadLetters?.[0]?.error.message).toContain('MESSAGE_TOO_LARGE');
      // Once for the whole request, once for the reading alone.
      expect(errors).toEqual(['produce/MESSAGE_TOO_LARGE', 'produce/MESSAGE_TOO_LARGE']);
      expect((await consume(cluster, topic)).map((g) => g.rec.seq)).toEqual([1, 2, 4, 5]);
    });
  });

  describe('kafka sink: faults', () => {
    test('the producer thread dying mid-batch: the batch fails retriable, connect starts a new thread, nothing lost', async () => {
      const topic = await freshTopic(2);
      const sink = kafkaSink({ topic });
      await sink.connect();
      await sink.write(range(1, 20).map((s) => queued(s)));
      expect(await sink.flush('idle')).toEqual({ committedThrough: 20, bytes: expect.any(Number) });
      const batch = range(21, 40).map((s) => queued(s));
      await sink.write(batch);
      await (sink as unknown as { producer: ProducerThread }).producer.terminate();
      await expect(sink.flush('idle')).rejects.toMatchObject({
        code: 'SLUICE_UPSTREAM_UNREACHABLE',
        retriable: true,
      });
      await sink.connect(); // what the runner does after an unreachable upstream, then rewind and resend
      await sink.write(batch);
      expect(await sink.flush('idle')).toEqual({ committedThrough: 40, bytes: expect.any(Number) });
      await sink.close();
      expect(dedupProblems(await consume(cluster, topic), range(1, 40))).toEqual([]);
    });

    test('the schema refuses what cannot work and fills the defaults', () => {
      const ok = schema.parse({ type: 'kafka', brokers: ['k1:9092'], topic: 'sensors.{metric}' });
      expect(ok).toMatchObject({
        acks: 'all',
        idempotent: true,
        key: '{device}',
        value_format: 'json',
        compression: 'none',
      });
      expect(ok.retry.max_ms).toBe(2_000);
      const bad = (over: Record<string, unknown>): string =>
        schema
          .safeParse({ type: 'kafka', brokers: ['k1:9092'], topic: 'x', ...over })
          .error?.issues.map((i) => i.message)
          .join('; ') ?? '';
      expect(bad({ acks: 'leader' })).toMatch(/idempotent producer needs acks: all/);
      expect(bad({ topic: 'sensors.{room}' })).toMatch(/unknown placeholder \{room\}/);
      expect(bad({ topic: 'has space' })).toMatch(/outside \[a-zA-Z0-9._-\]/);
      expect(bad({ topic: '..' })).toMatch(/cannot be named/);
      expect(bad({ sasl: { mechanism: 'plain', username: 'u' } })).toMatch(/exactly one of password/);
      expect(bad({ tls: { cert_file: '/c.pem' } })).toMatch(/go together/);
      expect(bad({ brokers: ['kafka'] })).toMatch(/host:port/);
      expect(topicProblem('a'.repeat(249))).toBeUndefined();
      expect(topicProblem('a'.repeat(250))).toMatch(/over Kafka's 249/);
    });
  });
});

describe('kafka sink: the clients side by side', () => {
  /** key -> partitions it was found on, from what kcat reads back. */
  async function partitionsByKey(topic: string): Promise<Map<string, Set<number>>> {
    const out = new Map<string, Set<number>>();
    for (const g of await consume(cluster, topic)) {
      const key = g.msg.key ?? '';
      let parts = out.get(key);
      if (parts === undefined) out.set(key, (parts = new Set()));
      parts.add(g.msg.partition);
    }
    return out;
  }

  test('a key lands on the partition KafkaJS and the Java client pick, whichever client sends it; lz4 and snappy arrive readable', async () => {
    const batch = range(1, 120).map((s) =>
      queued(s, { device: `device-${s % 41}${'x'.repeat((s % 41) % 5)}` }),
    );
    const topics: Record<string, string> = {};
    for (const [client, compression] of [
      ['kafkajs', 'gzip'],
      ['platformatic', 'gzip'],
      ['platformatic', 'lz4'],
      ['platformatic', 'snappy'],
    ] as const) {
      const topic = await freshTopic(7, `parts-${client}-${compression}`);
      topics[`${client}/${compression}`] = topic;
      const sink = anySink(cluster, { topic, idempotent: true, client, compression });
      await sink.connect();
      await sink.write(batch);
      expect(await sink.flush('idle')).toMatchObject({ committedThrough: 120 });
      await sink.close();
      expect(dedupProblems(await consume(cluster, topic), range(1, 120))).toEqual([]);
    }
    // KafkaJS's own DefaultPartitioner (its Long-based murmur2 port of the Java client's), not ours.
    const java = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: 7 }, (_, i) => ({
      partitionErrorCode: 0,
      partitionId: i,
      leader: 1,
      replicas: [1],
      isr: [1],
    }));
    const want = new Map(
      [...new Set(batch.map((r) => r.device))].map((key) => [
        key,
        new Set([java({ topic: 't', partitionMetadata, message: { key, value: 'v' } })]),
      ]),
    );
    expect(want.size).toBe(41);
    for (const topic of Object.values(topics)) expect(await partitionsByKey(topic)).toEqual(want);
  });
});
