// Proves the Kafka test peer is a faithful stand-in for a broker: KafkaJS (Sluice's client) writes to
// librdkafka's mock cluster, kcat reads back, and injected faults are survived without loss or duplicates.
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import type { LogEntry, Message, Producer } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { kcatConsume, kcatProduce, startMockCluster } from './kafka-mock/index.js';
import type { KafkaErrorCode, MockCluster } from './kafka-mock/index.js';

let cluster: MockCluster;
const producers: Producer[] = [];
const logs: LogEntry[] = [];

beforeAll(async () => {
  cluster = await startMockCluster({ brokers: 3 });
});

afterEach(async () => {
  await Promise.all(producers.splice(0).map((p) => p.disconnect()));
  await cluster.rtt(-1, 0);
  logs.length = 0;
});

afterAll(async () => {
  await cluster?.close();
});

function kafka(target: MockCluster = cluster): Kafka {
  return new Kafka({
    clientId: 'sluice-peer-test',
    brokers: target.bootstrap,
    // Errors are kept, not printed: the fault tests assert the injected failures really happened.
    logLevel: logLevel.ERROR,
    logCreator: () => (entry) => logs.push(entry),
    // Faster than the defaults so a broker outage of a second or two is ridden out quickly.
    retry: { initialRetryTime: 100, maxRetryTime: 1_000, retries: 10 },
  });
}

/**
 * acks=-1 with one request in flight: retries cannot reorder. Not idempotent: KafkaJS asks the
 * Metadata "controller" for a producer id, and librdkafka 2.0.2's mock reports ControllerId 0, which
 * is no broker (see the canary test below). The mock drops a failed Produce, so retries still
 * cannot duplicate here.
 */
async function safeProducer(target: MockCluster = cluster): Promise<Producer> {
  const producer = kafka(target).producer({
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  producers.push(producer);
  await producer.connect();
  return producer;
}

/** Payloads a naive line- or comma-based reader would mangle. */
const tricky = ['plain', 'two\nlines', 'tab\tand "quotes"', 'ünïcødé ✓', '{"t":21.5,"unit":"C"}', ''];

describe('Kafka mock cluster peer', () => {
  it('listens and advertises only loopback addresses, each broker on its own port', async () => {
    expect(cluster.bootstrap).toHaveLength(3);
    for (const hostPort of cluster.bootstrap) expect(hostPort).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(new Set(cluster.bootstrap).size).toBe(3);

    const admin = kafka().admin();
    await admin.connect();
    try {
      const { brokers } = await admin.describeCluster();
      expect(brokers.map((b) => b.nodeId).sort()).toEqual([1, 2, 3]);
      for (const b of brokers) expect(b.host).toBe('127.0.0.1');
    } finally {
      await admin.disconnect();
    }
  });

  // Canary: when Debian ships a librdkafka whose mock names a real controller, this fails, and
  // safeProducer should become idempotent (the mock itself supports idempotence: librdkafka's
  // own idempotent producer, e.g. kcat -X enable.idempotence=true, works against it).
  it('reports ControllerId 0, no broker, so a KafkaJS idempotent producer cannot start', async () => {
    const admin = kafka().admin();
    await admin.connect();
    try {
      expect((await admin.describeCluster()).controller).toBe(0);
    } finally {
      await admin.disconnect();
    }
    const client = new Kafka({
      brokers: cluster.bootstrap,
      logLevel: logLevel.NOTHING,
      retry: { retries: 1, initialRetryTime: 50 },
    });
    const producer = client.producer({ idempotent: true, maxInFlightRequests: 1 });
    await expect(producer.connect()).rejects.toThrow(/Broker 0 not found/);
    await producer.disconnect();
  });

  it('delivers KafkaJS acks=-1 writes that kcat reads back intact per partition', async () => {
    await cluster.createTopic('roundtrip', 3, 3);
    const producer = await safeProducer();
    const messages: Message[] = tricky.map((value, i) => ({
      key: `sensor-${i}`,
      value,
      partition: i % 3,
      headers: { 'content-type': 'application/json', seq: String(i) },
    }));
    messages.push({ key: null, value: 'keyless', partition: 0 });
    await producer.send({ topic: 'roundtrip', acks: -1, messages });

    const read = await kcatConsume({ bootstrap: cluster.bootstrap, topic: 'roundtrip' });
    expect(read).toHaveLength(messages.length);
    for (const [i, value] of tricky.entries()) {
      const got = read.find((m) => m.key === `sensor-${i}`);
      expect(got).toMatchObject({ topic: 'roundtrip', partition: i % 3, value });
      expect(got?.headers).toEqual([
        ['content-type', 'application/json'],
        ['seq', String(i)],
      ]);
    }
    expect(read.find((m) => m.value === 'keyless')).toMatchObject({ key: null, partition: 0, headers: [] });
    // Within a partition, offsets are dense and in send order.
    for (const p of [0, 1, 2]) {
      const inPartition = read.filter((m) => m.partition === p);
      expect(inPartition.map((m) => m.offset)).toEqual(inPartition.map((_, i) => i));
    }
  });

  it('lets a producer ride out a leader broker going down and coming back', async () => {
    await cluster.createTopic('failover', 1, 3);
    await cluster.setLeader('failover', 0, 2);
    const producer = await safeProducer();
    await producer.send({ topic: 'failover', messages: [{ value: 'before' }] });

    await cluster.down(2);
    let settled = false;
    const during = producer.send({ topic: 'failover', messages: [{ value: 'during' }] }).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(settled).toBe(false); // the mock really refused the leader's traffic
    await cluster.up(2);
    await during;
    await producer.send({ topic: 'failover', messages: [{ value: 'after' }] });

    const read = await kcatConsume({ bootstrap: cluster.bootstrap, topic: 'failover' });
    expect(read.map((m) => m.value)).toEqual(['before', 'during', 'after']);
    expect(logs.length).toBeGreaterThan(0);
  });

  it('delivers each message exactly once through NOT_LEADER_FOR_PARTITION x3 on Produce', async () => {
    await cluster.createTopic('not-leader', 1, 3);
    const producer = await safeProducer();
    await producer.send({ topic: 'not-leader', messages: [{ value: 'warm-up' }] });

    await cluster.pushErrors('Produce', Array<KafkaErrorCode>(3).fill('NOT_LEADER_FOR_PARTITION'));
    await producer.send({ topic: 'not-leader', messages: [{ value: 'one' }, { value: 'two' }] });
    await producer.send({ topic: 'not-leader', messages: [{ value: 'three' }] });

    const read = await kcatConsume({ bootstrap: cluster.bootstrap, topic: 'not-leader' });
    expect(read.map((m) => m.value)).toEqual(['warm-up', 'one', 'two', 'three']);
    const refused = logs.filter((l) => l.log.message.startsWith('Response Produce'));
    expect(refused.map((l) => String(l.log.error))).toEqual(
      Array<string>(3).fill('This server is not the leader for that topic-partition'),
    );
  });

  it('hands a non-retriable Produce error to the caller without writing', async () => {
    await cluster.createTopic('denied', 1, 3);
    const producer = await safeProducer();
    await producer.send({ topic: 'denied', messages: [{ value: 'warm-up' }] });

    await cluster.pushErrors('Produce', ['TOPIC_AUTHORIZATION_FAILED']);
    await expect(producer.send({ topic: 'denied', messages: [{ value: 'refused' }] })).rejects.toThrow(
      /authoriz/i,
    );
    const read = await kcatConsume({ bootstrap: cluster.bootstrap, topic: 'denied' });
    expect(read.map((m) => m.value)).toEqual(['warm-up']);
  });

  it('slows only the broker given a round-trip time', async () => {
    await cluster.createTopic('latency', 1, 3);
    await cluster.setLeader('latency', 0, 1);
    const producer = await safeProducer();
    const timedSend = async (value: string): Promise<number> => {
      const started = performance.now();
      await producer.send({ topic: 'latency', messages: [{ value }] });
      return performance.now() - started;
    };
    await timedSend('warm-up');

    await cluster.rtt(3, 600);
    expect(await timedSend('other broker slow')).toBeLessThan(300);
    await cluster.rtt(1, 600);
    expect(await timedSend('leader slow')).toBeGreaterThanOrEqual(550);
    await cluster.rtt(-1, 0);
    expect(await timedSend('fast again')).toBeLessThan(300);
  });

  it('rejects commands the mock cannot carry out', async () => {
    await expect(cluster.down(9)).rejects.toThrow(/bad broker id/);
    await expect(cluster.pushErrors('Produce', ['NO_SUCH_ERROR'])).rejects.toThrow(/unknown error code/);
    await expect(cluster.createTopic('bad topic', 1)).rejects.toThrow(/invalid Kafka topic name/);
    // The session stays usable after a refused command.
    await cluster.createTopic('still-works', 1, 1);
  });

  it('feeds benchmark load through kcatProduce', async () => {
    await cluster.createTopic('bench-load', 2, 1);
    const messages = Array.from({ length: 500 }, (_, i) => ({
      key: `k${i % 7}`,
      value: `reading ${i}\nline 2`,
    }));
    const { elapsedMs } = await kcatProduce({ bootstrap: cluster.bootstrap, topic: 'bench-load', messages });
    expect(elapsedMs).toBeGreaterThan(0);

    const read = await kcatConsume({ bootstrap: cluster.bootstrap, topic: 'bench-load' });
    expect(read).toHaveLength(500);
    expect(new Set(read.map((m) => m.value)).size).toBe(500);
    expect(read.find((m) => m.value === 'reading 3\nline 2')?.key).toBe('k3');
  });
});

// A cluster of its own: once a broker has had a broker-level error stack for an ApiKey, librdkafka
// 2.0.2 consults that stack, even empty, instead of the cluster-level one, so pushErrors would no
// longer reach that broker in the tests above.
describe('Kafka mock cluster broker-level fault injection', () => {
  let faulty: MockCluster;
  beforeAll(async () => {
    faulty = await startMockCluster({ brokers: 3 });
  });
  afterAll(async () => {
    await faulty?.close();
  });

  // Retriable errors a broker may return on Produce; the mock then appends nothing, so a retry
  // must not duplicate. _TRANSPORT makes it drop the connection instead; @ms delays the reply.
  const retriable = [
    'LEADER_NOT_AVAILABLE',
    'REQUEST_TIMED_OUT@200',
    'NOT_ENOUGH_REPLICAS',
    'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
    'UNKNOWN_TOPIC_OR_PART',
    'KAFKA_STORAGE_ERROR',
    'NETWORK_EXCEPTION',
    '_TRANSPORT',
  ];
  it.each(retriable)('rides out three %s from the leader, each message once', async (spec) => {
    const [code = '', rtt] = spec.split('@');
    const topic = `fault${code.toLowerCase().replaceAll('_', '-')}`;
    await faulty.createTopic(topic, 1, 3);
    await faulty.setLeader(topic, 0, 1);
    const producer = await safeProducer(faulty);
    await producer.send({ topic, messages: [{ value: 'warm-up' }] });

    const fault = rtt === undefined ? code : { code, rttMs: Number(rtt) };
    await faulty.pushBrokerErrors(1, 'Produce', [fault, fault, fault]);
    for (const value of ['one', 'two', 'three']) await producer.send({ topic, messages: [{ value }] });

    expect(await faulty.brokerErrorsLeft(1, 'Produce')).toBe(0); // every fault was really hit
    const read = await kcatConsume({ bootstrap: faulty.bootstrap, topic });
    expect(read.map((m) => m.value)).toEqual(['warm-up', 'one', 'two', 'three']);
  });

  it('shadows cluster-level errors on a broker that has a broker-level stack (librdkafka quirk)', async () => {
    await faulty.createTopic('shadowed', 1, 3);
    await faulty.setLeader('shadowed', 0, 1);
    await faulty.pushBrokerErrors(1, 'Produce', ['REQUEST_TIMED_OUT']);
    const producer = await safeProducer(faulty);
    await producer.send({ topic: 'shadowed', messages: [{ value: 'retried once' }] });
    expect(await faulty.brokerErrorsLeft(1, 'Produce')).toBe(0);

    await faulty.pushErrors('Produce', ['TOPIC_AUTHORIZATION_FAILED']);
    await producer.send({ topic: 'shadowed', messages: [{ value: 'not refused' }] });
    await faulty.clearErrors('Produce'); // or the next Produce to brokers 2 and 3 would be refused
    const read = await kcatConsume({ bootstrap: faulty.bootstrap, topic: 'shadowed' });
    expect(read.map((m) => m.value)).toEqual(['retried once', 'not refused']);
  });
});

describe('Kafka mock cluster lifecycle', () => {
  it('starts with pre-created topics and closes idempotently', async () => {
    const own = await startMockCluster({ brokers: 1, topics: [{ name: 'pre', partitions: 4 }] });
    const admin = new Kafka({ brokers: own.bootstrap, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: ['pre'] });
      expect(meta.topics[0]?.partitions).toHaveLength(4);
    } finally {
      await admin.disconnect();
    }
    await own.close();
    await own.close();
    await expect(own.up(1)).rejects.toThrow(/exited/);
  });
});
