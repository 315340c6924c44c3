// SIGKILL while the gateway drains to Kafka, over and over: a kill between Kafka's ack and the queue's ack
// resends readings on restart, so Kafka may hold duplicates, but only of (gateway, seq) ids it already had,
// with the same content; dedup by id downstream gives every reading exactly once: checked here by the
// test and by Apache Spark (Structured Streaming, dropDuplicatesWithinWatermark on the id) reading the
// topic. Runs the compiled gateway against the run's real Kafka cluster, with the idempotent producer on.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { Queue } from '../../../gateway/queue/queue.js';
import { readings } from '../../helpers/readings.js';
import { tempDir } from '../../helpers/tmp.js';
import { createTopic, sharedKafka, uniqueTopic } from '../../peers/kafka/index.js';
import { expectSparkCountsEqual } from '../../peers/spark/index.js';
import { assertBuilt, consume, dedupProblems } from './helpers.js';

const child = fileURLToPath(new URL('../../fixtures/kafka-gateway-child.mjs', import.meta.url));
const TOTAL = 20_000;
const cluster = sharedKafka();
const topic = uniqueTopic('crash');

interface Round {
  /** Highest ack the child reported before it died. */
  acked: number;
  killed: boolean;
}

/**
 * Runs the child until it is killed `killAfterMs` after its first progress in this life (its first ack
 * past where it started, so the kill lands mid-drain however long connecting to the cluster takes), or
 * (killAfterMs undefined) until drained.
 */
function runChild(dataDir: string, killAfterMs: number | undefined): Promise<Round> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, dataDir, cluster.bootstrap.join(','), topic, 'true'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let acked = 0;
    let startedAt: number | undefined;
    let stderr = '';
    let buf = '';
    let killed = false;
    const kill = (): void => {
      killed = true;
      p.kill('SIGKILL');
    };
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (d: string) => (stderr += d));
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^acked (\d+) lag (\d+)$/.exec(line);
        if (!m) continue;
        acked = Number(m[1]);
        startedAt ??= acked;
        if (acked > startedAt && killAfterMs !== undefined && !killed) {
          setTimeout(kill, killAfterMs);
          killAfterMs = undefined;
        }
        if (Number(m[2]) === 0 && !killed) kill(); // drained: nothing left to lose
      }
    });
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ acked, killed });
      else reject(new Error(`child exited with ${code ?? signal}:\n${stderr.slice(-2000)}`));
    });
  });
}

test(`SIGKILL at random moments while draining ${TOTAL} readings: after dedup by (gateway, seq), each exactly once`, async () => {
  assertBuilt();
  await createTopic(cluster, topic, { partitions: 3 });
  const dataDir = tempDir();
  const queue = Queue.open({ dir: join(dataDir, 'queue'), maxBytes: 1 << 30, onFull: 'reject_new' });
  for (let i = 0; i < TOTAL; i += 1_000) await queue.append(readings(1_000, i));
  await queue.close();

  const rounds: Round[] = [];
  for (let i = 0; i < 30; i++) {
    // Short lives after the first ack, so that several kills land mid-drain however fast the machine drains.
    const round = await runChild(dataDir, Math.floor(Math.random() * 150));
    rounds.push(round);
    if (round.acked === TOTAL) break;
  }
  if (rounds[rounds.length - 1]?.acked !== TOTAL) rounds.push(await runChild(dataDir, undefined));
  const midDrain = rounds.filter((r) => r.acked > 0 && r.acked < TOTAL).length;

  const got = await consume(cluster, topic);
  const ids = got.map((g) => g.rec.id);
  const duplicates = ids.length - new Set(ids).size;
  console.info(
    `kafka crash test: ${rounds.length} runs, ${midDrain} killed mid-drain, ${got.length} messages, ${duplicates} duplicates`,
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
}, 240_000);
