// SIGKILL while the gateway drains to Kafka, over and over: a kill between Kafka's ack and the queue's ack
// resends readings on restart, so Kafka may hold duplicates, but only of (gateway, seq) ids it already had,
// with the same content; dedup by id downstream gives every reading exactly once: checked here by the
// test and by Apache Spark (Structured Streaming, dropDuplicatesWithinWatermark on the id) reading the
// topic. Runs the compiled gateway against the run's real Kafka cluster, with the idempotent producer on.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { Queue } from '../../../gateway/queue/queue.js';
import { runGatewayChild, writeBacklog, type ChildLife } from '../../helpers/gateway-child.js';
import { tempDir } from '../../helpers/tmp.js';
import { createTopic, sharedKafka, uniqueTopic } from '../../peers/kafka/index.js';
import { expectSparkCountsEqual } from '../../peers/spark/index.js';
import { KAFKA_CLIENTS, assertBuilt, consume, dedupProblems, type KafkaClient } from './helpers.js';

const child = fileURLToPath(new URL('../../fixtures/kafka-gateway-child.mjs', import.meta.url));
const TOTAL = 20_000;
const cluster = sharedKafka();

/**
 * Runs the child until it is killed `killAfterMs` after its first progress in this life (its first ack
 * past where it started, so the kill lands mid-drain however long connecting to the cluster takes), or
 * (killAfterMs undefined) until drained.
 */
function runChild(
  dataDir: string,
  topic: string,
  client: KafkaClient,
  killAfterMs: number | undefined,
): Promise<ChildLife> {
  let startedAt: number | undefined;
  let armed = false;
  return runGatewayChild(child, [dataDir, cluster.bootstrap.join(','), topic, 'true', client], {
    onAck: (acked, _lag, ctl) => {
      startedAt ??= acked;
      if (acked > startedAt && killAfterMs !== undefined && !armed) {
        armed = true;
        const timer = setTimeout(() => ctl.kill(), killAfterMs);
        ctl.onExit(() => clearTimeout(timer));
      }
    },
  });
}

test.each(KAFKA_CLIENTS)(
  `client %s: SIGKILL at random moments while draining ${TOTAL} readings: after dedup by (gateway, seq), each exactly once`,
  async (client) => {
    assertBuilt();
    const topic = uniqueTopic(`crash-${client}`);
    await createTopic(cluster, topic, { partitions: 3 });
    const dataDir = tempDir();
    await writeBacklog(dataDir, TOTAL);

    const rounds: ChildLife[] = [];
    for (let i = 0; i < 30; i++) {
      // Short lives after the first ack, so that several kills land mid-drain however fast the machine drains.
      const round = await runChild(dataDir, topic, client, Math.floor(Math.random() * 150));
      rounds.push(round);
      if (round.acked === TOTAL) break;
    }
    if (rounds[rounds.length - 1]?.acked !== TOTAL)
      rounds.push(await runChild(dataDir, topic, client, undefined));
    const midDrain = rounds.filter((r) => r.acked > 0 && r.acked < TOTAL).length;

    const got = await consume(cluster, topic);
    const ids = got.map((g) => g.rec.id);
    const duplicates = ids.length - new Set(ids).size;
    console.info(
      `kafka crash test (${client}): ${rounds.length} runs, ${midDrain} killed mid-drain, ${got.length} messages, ${duplicates} duplicates`,
    );
    expect(midDrain).toBeGreaterThan(2);
    // Every duplicate has the same id and content as its first copy, nothing is missing, per-device order holds.
    // Nothing was parked: every reading must have reached Kafka, not the dead letters.
    const check = Queue.open({ dir: join(dataDir, 'queue'), maxBytes: 1 << 30, onFull: 'reject_new' });
    const dead = check.deadLetters('kafka');
    await check.close();
    expect(dead.map((d) => `${d.seq} ${d.code} ${d.message}`).slice(0, 3)).toEqual([]);
    const problems = dedupProblems(
      got,
      Array.from({ length: TOTAL }, (_, i) => i + 1),
    );
    expect(problems).toEqual([]);
    expect(got.every((g) => g.rec.gateway === 'gw-crash')).toBe(true);

    // The downstream the ids are for: Spark's count after dedup by id equals the readings sent.
    const spark = await expectSparkCountsEqual(cluster.bootstrap, topic, TOTAL);
    console.info(
      `spark over the crash topic: read ${spark.read}, unique ${spark.unique}, ${spark.millis} ms, ` +
        `RSS peak ${Math.round((spark.rssPeakBytes ?? 0) / 2 ** 20)} MiB`,
    );
    expect(spark.read).toBe(got.length);
  },
  240_000,
);
