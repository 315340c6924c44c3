// The Kafka sink against librdkafka's mock cluster, only for what a real cluster cannot do on demand: a
// chosen error code (NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT with a delay, a dropped connection) in a
// chosen Produce request, and a partition leader moved between two requests at a chosen moment (the
// KafkaJS 2.2.4 bug the sink guards against). Everything else runs on the real cluster (kafka.test.ts).
// KafkaJS only (the default client): @platformatic/kafka cannot talk to the mock, which answers neither
// its ApiVersions v3 nor its Metadata v9; its leader move is in faults.test.ts, on the real cluster.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import type { QueuedReading } from '../../../gateway/reading.js';
import { reading, readings } from '../../helpers/readings.js';
import { until } from '../../helpers/wait.mjs';
import { startMockCluster, type MockCluster } from '../../peers/kafka-mock/index.js';
import { FAST_RETRY, assertBuilt, consume, dedupProblems, kafkaPipeline, kafkaSink } from './helpers.js';

let cluster: MockCluster;
beforeAll(async () => {
  assertBuilt();
  cluster = await startMockCluster({ brokers: 3 });
});
afterAll(async () => {
  await cluster?.close();
});

const queued = (seq: number, over: Parameters<typeof reading>[1] = {}): QueuedReading => ({
  ...reading(seq, over),
  seq,
});
const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

let topics = 0;
async function freshTopic(partitions: number, prefix = 't'): Promise<string> {
  const topic = `${prefix}-${++topics}`;
  await cluster.createTopic(topic, partitions, 3);
  return topic;
}

describe('kafka sink: a leader move between requests', () => {
  test('a leader move that KafkaJS would skip silently is caught and the batch resent', async () => {
    const topic = await freshTopic(2);
    await cluster.setLeader(topic, 0, 1);
    await cluster.setLeader(topic, 1, 2);
    const sink = kafkaSink(cluster, { topic });
    await sink.connect();
    await sink.write(range(1, 20).map((s) => queued(s))); // caches the metadata: partition 1 on broker 2
    expect(await sink.flush('idle')).toEqual({ committedThrough: 20, bytes: expect.any(Number) });
    await cluster.setLeader(topic, 1, 1);
    // Broker 2 answers NOT_LEADER; KafkaJS's retry then finds partition 1 on broker 1, which already
    // answered for partition 0, and resolves without producing partition 1 (kafkajs 2.2.4 sendMessages.js).
    const batch = range(21, 40).map((s) => queued(s));
    await sink.write(batch);
    await expect(sink.flush('idle')).rejects.toThrow(/acknowledged 1 of 2 partitions/);
    await sink.write(batch); // what the runner does next: rewind and resend
    expect(await sink.flush('idle')).toEqual({ committedThrough: 40, bytes: expect.any(Number) });
    await sink.close();
    expect(dedupProblems(await consume(cluster, topic), range(1, 40))).toEqual([]);
  });
});

// Its own cluster: broker-level error stacks shadow cluster-level ones on that broker for good.
describe('kafka sink: injected Produce errors', () => {
  let faulty: MockCluster;
  beforeAll(async () => {
    faulty = await startMockCluster({ brokers: 3 });
  });
  afterAll(async () => {
    await faulty?.close();
  });

  test('NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT and dropped connections: nothing lost, nothing acked early', async () => {
    await faulty.createTopic('faults', 1, 3);
    await faulty.setLeader('faults', 0, 1);
    const { queue, runner } = kafkaPipeline(kafkaSink(faulty, { topic: 'faults', retry: FAST_RETRY }), 40);
    await runner.start();
    await queue.append(readings(5));
    await until(() => queue.cursorPosition('kafka') === 5, { timeoutMs: 20_000 });
    const faults = ['NOT_LEADER_FOR_PARTITION', { code: 'REQUEST_TIMED_OUT', rttMs: 200 }, '_TRANSPORT'];
    await faulty.pushBrokerErrors(1, 'Produce', [...faults, ...faults, ...faults]);
    const appending = (async () => {
      for (let i = 0; i < 10; i++) await queue.append(readings(100, 5 + i * 100));
    })();
    // While it retries: everything the cursor has acked is already in Kafka (read the ack first, then Kafka).
    let checks = 0;
    const deadline = Date.now() + 30_000;
    while (queue.cursorPosition('kafka') < 1005) {
      if (Date.now() > deadline)
        throw new Error(`stuck at ${queue.cursorPosition('kafka')}: ${JSON.stringify(runner.status())}`);
      const acked = queue.cursorPosition('kafka');
      const inKafka = new Set((await consume(faulty, 'faults')).map((g) => g.rec.seq));
      expect(range(1, acked).filter((s) => !inKafka.has(s))).toEqual([]);
      checks++;
    }
    await appending;
    await runner.stop();
    expect(checks).toBeGreaterThan(0);
    expect(await faulty.brokerErrorsLeft(1, 'Produce')).toBe(0); // every fault was really hit
    expect(dedupProblems(await consume(faulty, 'faults'), range(1, 1005))).toEqual([]);
    await queue.close();
  });
});
