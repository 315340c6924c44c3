// The Kafka sink through the faults a real Apache Kafka cluster has in the field, on a 3-node cluster of
// this file's own (it kills and restarts nodes): a produce response lost after the broker wrote (the case
// the idempotent producer exists for), the partition leader SIGKILLed mid-drain, min.insync.replicas not
// met, and every broker down for a minute while ingest goes on.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { validateConfig } from '../../../gateway/config/load.js';

import { Gateway } from '../../../gateway/runtime/gateway.js';
import { SluiceError } from '../../../gateway/errors.js';
import type { QueuedReading } from '../../../gateway/reading.js';
import { reading, readings } from '../../helpers/readings.js';
import { tempDir } from '../../helpers/tmp.js';
import { until } from '../../helpers/wait.mjs';
import {
  KafkaFaultProxy,
  adminOf,
  createTopic,
  isrOf,
  leaderOf,
  startKafkaCluster,
  uniqueTopic,
  type KafkaCluster,
} from '../../peers/kafka/index.js';
import {
  FAST_RETRY,
  KAFKA_CLIENTS,
  assertBuilt,
  consume,
  dedupProblems,
  kafkaPipeline,
  kafkaSink,
  type Brokers,
} from './helpers.js';

let cluster: KafkaCluster;
let proxies: KafkaFaultProxy[] = [];
beforeAll(async () => {
  assertBuilt();
  cluster = await startKafkaCluster({ proxied: true });
  proxies = await KafkaFaultProxy.forCluster(cluster);
}, 120_000);
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await cluster?.close();
});
// Every test starts on a whole cluster, whatever the one before left down.
afterEach(async () => {
  await Promise.all(cluster.nodeIds.map((id) => cluster.start(id)));
}, 120_000);

const range = (n: number, first = 1): number[] => Array.from({ length: n }, (_, i) => first + i);

describe.each(KAFKA_CLIENTS)('client: %s', (client) => {
  const pipeline = (brokers: Brokers, over: Record<string, unknown>) =>
    kafkaPipeline(kafkaSink(brokers, { retry: FAST_RETRY, client, ...over }));

  test.each([
    [true, 'no duplicate: the broker recognises the retried batch by producer id and sequence'],
    [false, 'a duplicate of every record of the lost response (what idempotence prevents)'],
  ])(
    'a Produce response lost after the broker wrote, idempotent %s: %s',
    async (idempotent) => {
      const topic = uniqueTopic(`lost-response-${idempotent}`);
      await createTopic(cluster, topic);
      const leader = await leaderOf(cluster, topic);
      const proxy = proxies[cluster.nodeIds.indexOf(leader)]!;
      const { queue, runner } = pipeline(
        { bootstrap: KafkaFaultProxy.bootstrap(cluster) },
        { topic, idempotent, request_timeout_ms: 3_000 },
      );
      await runner.start();
      await queue.append(readings(50));
      await until(() => queue.cursorPosition('kafka') === 50, { timeoutMs: 30_000, what: 'first batch' });
      const dropped = proxy.droppedProduceResponses;
      proxy.dropProduceResponses(1);
      await queue.append(readings(50, 50));
      await until(() => queue.cursorPosition('kafka') === 100, {
        timeoutMs: 30_000,
        what: 'second batch after the lost response',
      });
      await runner.stop();
      await queue.close();
      expect(proxy.droppedProduceResponses - dropped).toBe(1); // the fault really happened
      const got = await consume(cluster, topic);
      expect(dedupProblems(got, range(100))).toEqual([]);
      const duplicates = got.length - new Set(got.map((g) => g.rec.id)).size;
      console.info(
        `lost produce response, idempotent ${idempotent}: ${got.length} messages, ${duplicates} duplicates`,
      );
      if (idempotent) expect(duplicates).toBe(0);
      else expect(duplicates).toBeGreaterThan(0);
    },
    60_000,
  );

  // With several batches in flight (tried for issue 17) this lost 100 acknowledged readings: KafkaJS handed the
  // lost request's sequence numbers to the next batch, which the broker then took for a retry (worker.ts).
  test('a Produce response lost with ten batches of equal size queued behind it: nothing lost, no duplicate', async () => {
    const topic = uniqueTopic('lost-queued');
    await createTopic(cluster, topic);
    const proxy = proxies[cluster.nodeIds.indexOf(await leaderOf(cluster, topic))]!;
    const { queue, runner } = pipeline(
      { bootstrap: KafkaFaultProxy.bootstrap(cluster) },
      { topic, idempotent: true, request_timeout_ms: 3_000 },
    );
    await runner.start();
    await queue.append(readings(100));
    await until(() => queue.cursorPosition('kafka') === 100, { timeoutMs: 30_000, what: 'first batch' });
    const dropped = proxy.droppedProduceResponses;
    proxy.dropProduceResponses(1);
    // One partition, batches of 100: every request the same size, so a request given the sequence numbers of
    // the one whose response was lost would look to the broker like its retry.
    await queue.append(readings(1_000, 100));
    try {
      await until(() => queue.cursorPosition('kafka') === 1_100, {
        timeoutMs: 60_000,
        what: 'all 1,100',
        state: () => JSON.stringify(runner.status()),
      });
    } finally {
      await runner.stop();
      await queue.close();
    }
    expect(proxy.droppedProduceResponses - dropped).toBe(1); // the fault really happened
    const got = await consume(cluster, topic);
    expect(dedupProblems(got, range(1_100))).toEqual([]);
    expect(got.length - new Set(got.map((g) => g.rec.id)).size).toBe(0);
  }, 120_000);

  test("three Produce responses lost in a row (past KafkaJS's own retries), then a rewound batch that grew: the idempotent producer starts over instead of sticking on OUT_OF_ORDER_SEQUENCE_NUMBER", async () => {
    const topic = uniqueTopic('grown');
    await createTopic(cluster, topic);
    const proxy = proxies[cluster.nodeIds.indexOf(await leaderOf(cluster, topic))]!;
    const { queue, runner } = pipeline(
      { bootstrap: KafkaFaultProxy.bootstrap(cluster) },
      { topic, idempotent: true, request_timeout_ms: 3_000 },
    );
    await runner.start();
    await queue.append(readings(10));
    await until(() => queue.cursorPosition('kafka') === 10, { timeoutMs: 30_000, what: 'first batch' });
    proxy.dropProduceResponses(3);
    const before = proxy.produceRequests;
    await queue.append(readings(5, 10));
    await until(() => proxy.produceRequests > before, { timeoutMs: 10_000, what: 'the 5 sent' });
    await queue.append(readings(20, 15)); // the resend after the rewind carries 35 - 10 readings, not 5
    try {
      await until(() => queue.cursorPosition('kafka') === 35, {
        timeoutMs: 20_000,
        what: 'all 35',
        state: () => JSON.stringify(runner.status()),
      });
    } finally {
      await runner.stop();
      await queue.close();
    }
    expect(proxy.droppedProduceResponses).toBeGreaterThanOrEqual(3);
    const got = await consume(cluster, topic);
    // At least once across the new producer id: duplicates only of what the broker had, with the same ids.
    expect(dedupProblems(got, range(35))).toEqual([]);
  }, 90_000);

  test('the partition leader SIGKILLed mid-drain: nothing acked before Kafka has it, nothing lost, no duplicate', async () => {
    const topic = uniqueTopic('leader-kill');
    await createTopic(cluster, topic);
    const { queue, runner } = pipeline(cluster, { topic, idempotent: true, request_timeout_ms: 5_000 });
    await runner.start();
    const TOTAL = 20_000;
    const appending = (async () => {
      for (let i = 0; i < TOTAL; i += 500) {
        await queue.append(readings(500, i));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await until(() => queue.cursorPosition('kafka') > 2_000, { timeoutMs: 30_000, what: 'first deliveries' });
    const leader = await leaderOf(cluster, topic);
    await cluster.kill(leader);
    const killedAt = Date.now();
    const ackedAtKill = queue.cursorPosition('kafka');
    // While the leader moves: everything the cursor has acked is already in Kafka (read the ack first).
    let checks = 0;
    while (Date.now() - killedAt < 8_000) {
      const acked = queue.cursorPosition('kafka');
      const inKafka = new Set((await consume(cluster, topic)).map((g) => g.rec.seq));
      expect(range(acked).filter((s) => !inKafka.has(s))).toEqual([]);
      checks++;
    }
    await appending;
    await until(() => queue.cursorPosition('kafka') === TOTAL, {
      timeoutMs: 60_000,
      what: 'drained on the new leader',
    });
    const newLeader = await leaderOf(cluster, topic);
    await runner.stop();
    await queue.close();
    const got = await consume(cluster, topic);
    const duplicates = got.length - new Set(got.map((g) => g.rec.id)).size;
    console.info(
      `leader ${leader} killed at ack ${ackedAtKill}: new leader ${newLeader}, ${checks} consistency checks, ` +
        `${got.length} messages, ${duplicates} duplicates`,
    );
    expect(newLeader).not.toBe(leader);
    expect(checks).toBeGreaterThan(0);
    expect(dedupProblems(got, range(TOTAL))).toEqual([]);
    expect(duplicates).toBe(0);
  }, 120_000);

  // A leader move between two sends, on the real cluster: partition 1 is reassigned away from its leader,
  // node B (which stays up and answers NOT_LEADER_OR_FOLLOWER), to node A, which already leads partition 0.
  // KafkaJS 2.2.4's retry then skips partition 1 (A already answered; sendMessages.js) and resolves; the
  // sink's guard (every partition picked must be acknowledged, sink.ts) turns that into a resend.
  // @platformatic/kafka resends partition 1 to A itself; its worker counts only the partitions the brokers
  // answered. Either way: nothing counts as delivered before Kafka has it.
  test('a leader move between sends: a batch is acknowledged only once Kafka has every partition of it', async () => {
    const topic = uniqueTopic(`leader-move-${client}`);
    const [a, b, c] = cluster.nodeIds as [number, number, number];
    const admin = adminOf(cluster);
    await admin.connect();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            replicaAssignment: [
              { partition: 0, replicas: [a, b, c] },
              { partition: 1, replicas: [b, a, c] },
            ],
          },
        ],
      });
    } finally {
      await admin.disconnect();
    }
    await until(async () => (await leaderOf(cluster, topic, 1)) === b, { timeoutMs: 15_000 });
    const sink = kafkaSink(cluster, { topic, idempotent: true, client, retry: FAST_RETRY });
    await sink.connect();
    const batch = (first: number): QueuedReading[] =>
      Array.from({ length: 40 }, (_, i) => ({ ...reading(first + i), seq: first + i }));
    const inKafka = async (): Promise<Set<number>> =>
      new Set((await consume(cluster, topic)).map((g) => g.rec.seq));
    await sink.write(batch(1));
    expect(await sink.flush('idle')).toMatchObject({ committedThrough: 40 }); // metadata: 1 on B
    expect(new Set((await consume(cluster, topic)).map((g) => g.msg.partition))).toEqual(new Set([0, 1]));
    const mover = adminOf(cluster);
    await mover.connect();
    try {
      await mover.alterPartitionReassignments({
        topics: [{ topic, partitionAssignment: [{ partition: 1, replicas: [a, c] }] }],
      });
    } finally {
      await mover.disconnect();
    }
    await until(async () => (await leaderOf(cluster, topic, 1)) === a, { timeoutMs: 30_000 });
    let delivered = 40;
    let failures = 0;
    for (let attempt = 0; delivered < 80 && attempt < 20; attempt++) {
      await sink.write(batch(41)); // what the runner does: the same batch again until it is acknowledged
      try {
        const progress = await sink.flush('idle');
        delivered = progress.committedThrough ?? delivered;
      } catch (err) {
        failures++;
        if (!(err instanceof SluiceError) || !err.retriable) throw err;
        continue;
      }
      // Acknowledged: then Kafka has every reading of it, on both partitions.
      const have = await inKafka();
      expect(range(40, 41).filter((s) => !have.has(s))).toEqual([]);
    }
    await sink.close();
    console.info(`leader move (${client}): ${failures} failed sends before the batch was acknowledged`);
    if (client === 'kafkajs') expect(failures).toBeGreaterThan(0); // KafkaJS skipped it, and was caught
    expect(delivered).toBe(80);
    expect(dedupProblems(await consume(cluster, topic), range(80))).toEqual([]);
  }, 120_000);

  test('min.insync.replicas not met: the sink retries and acks nothing until the replica is back, then drains', async () => {
    const topic = uniqueTopic('min-isr');
    // All three replicas must be in sync: one node down is enough, and the quorum of controllers stays.
    await createTopic(cluster, topic, { config: { 'min.insync.replicas': '3' } });
    const leader = await leaderOf(cluster, topic);
    const follower = cluster.nodeIds.find((id) => id !== leader)!;
    const { queue, runner } = pipeline(cluster, { topic, idempotent: true, request_timeout_ms: 3_000 });
    await runner.start();
    await queue.append(readings(100));
    await until(() => queue.cursorPosition('kafka') === 100, { timeoutMs: 30_000, what: 'first batch' });
    await cluster.kill(follower);
    await until(async () => (await isrOf(cluster, topic)).length === 2, {
      timeoutMs: 30_000,
      what: 'the ISR shrinks',
    });
    await queue.append(readings(100, 100));
    await until(() => runner.status().consecutiveFailures >= 3, {
      timeoutMs: 30_000,
      what: 'failed attempts',
      state: () => `cursor ${queue.cursorPosition('kafka')}, status ${JSON.stringify(runner.status())}`,
    });
    const failing = runner.status();
    await new Promise((r) => setTimeout(r, 3_000));
    expect(queue.cursorPosition('kafka')).toBe(100); // never acked while the ISR is short
    expect(failing.lastError?.message).toMatch(/NOT_ENOUGH_REPLICAS|not enough replicas|in-sync/i);
    expect((await consume(cluster, topic)).map((g) => g.rec.seq)).toEqual(range(100));
    await cluster.start(follower);
    await until(() => queue.cursorPosition('kafka') === 200, {
      timeoutMs: 60_000,
      what: 'drained once the replica is back',
    });
    await runner.stop();
    await queue.close();
    const got = await consume(cluster, topic);
    expect(dedupProblems(got, range(200))).toEqual([]);
    console.info(
      `min.insync.replicas 3 with node ${follower} down: ${failing.consecutiveFailures}+ failed attempts (${failing.lastError?.message}); drained after it came back`,
    );
  }, 120_000);

  // 60 s as the issue asks; SLUICE_KAFKA_OUTAGE_MS shortens it while working on this file.
  const OUTAGE_MS = Number(process.env.SLUICE_KAFKA_OUTAGE_MS ?? 60_000);
  const METRICS = ['temperature', 'humidity', 'pressure']; // the simulator's defaults

  test(
    `every broker down for ${OUTAGE_MS / 1000} s while ingest goes on: first ack within 5 s of the brokers, the backlog drains, nothing lost`,
    async () => {
      const prefix = uniqueTopic(`outage-${client}`);
      for (const m of METRICS) await createTopic(cluster, `${prefix}.${m}`, { partitions: 3 });
      // 9 readings per 20 ms tick, for longer than the outage lasts.
      const count = 9 * Math.ceil((OUTAGE_MS + 30_000) / 20);
      const gw = await Gateway.start(
        validateConfig({
          gateway: { id: 'gw-outage', data_dir: tempDir() },
          log: { level: 'silent' },
          sources: { sim: { type: 'simulator', devices: 3, interval_ms: 20, count } },
          // Retry settings left at the Kafka sink's defaults: the test measures what an operator gets.
          sinks: {
            kafka: {
              type: 'kafka',
              brokers: cluster.bootstrap,
              topic: `${prefix}.{metric}`,
              start_from: 'oldest',
              client,
            },
          },
        }),
      );
      const origin = gw.queue.origin;
      const lag = (): number => gw.queue.cursorStats('kafka').lag;
      try {
        await until(() => gw.queue.cursorPosition('kafka') > origin + 500, {
          timeoutMs: 30_000,
          what: 'first deliveries',
        });
        await Promise.all(cluster.nodeIds.map((id) => cluster.kill(id)));
        const downAt = Date.now();
        const seqAtDown = gw.queue.lastSeq;
        await new Promise((r) => setTimeout(r, OUTAGE_MS));
        const ingested = gw.queue.lastSeq - seqAtDown;
        const backlog = lag();
        const failures = gw.status().sinks[0]?.consecutiveFailures ?? 0;
        const restartAt = Date.now();
        await Promise.all(cluster.nodeIds.map((id) => cluster.start(id)));
        const upAt = Date.now(); // every broker serves metadata again
        await until(() => (gw.status().sinks[0]?.lastAckAt ?? 0) > upAt, {
          timeoutMs: 30_000,
          what: 'first ack after the outage',
        });
        const reconnectMs = (gw.status().sinks[0]?.lastAckAt ?? 0) - upAt;
        console.info(
          `kafka outage ${Math.round((restartAt - downAt) / 1000)} s: ${ingested} readings ingested meanwhile, ` +
            `backlog ${backlog}, ${failures} failed attempts; brokers back in ${upAt - restartAt} ms, first ack ` +
            `${reconnectMs} ms after that`,
        );
        expect(ingested).toBeGreaterThan(1_000); // ingest went on
        expect(backlog).toBeGreaterThanOrEqual(ingested); // and piled up in the queue
        expect(failures).toBeGreaterThan(2);
        expect(reconnectMs).toBeLessThan(5_000);
        await until(() => gw.queue.lastSeq === origin + count - 1 && lag() === 0, {
          timeoutMs: 90_000,
          what: 'backlog drained',
        });
        expect(gw.status().sinks[0]?.health.state).toBe('healthy');
      } finally {
        await gw.stop();
      }
      const got = await consume(cluster, ...METRICS.map((m) => `${prefix}.${m}`));
      expect(dedupProblems(got, range(count, origin))).toEqual([]);
    },
    180_000 + OUTAGE_MS * 2,
  );
});
