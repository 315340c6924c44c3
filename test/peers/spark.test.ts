// Spark as the downstream the Kafka sink's at-least-once contract promises: after resends that left
// duplicates (same id, same content) in the topic, Structured Streaming's dropDuplicatesWithinWatermark("id")
// counts each reading once, on the run's shared Kafka cluster (test/peers/kafka/). The same check runs on
// what the Sluice gateway itself wrote after SIGKILL rounds in test/sinks/kafka/crash.test.ts.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createTopic, sharedKafka, uniqueTopic } from './kafka/index.js';
import { expectSparkCountsEqual, sparkCountProblems } from './spark/index.js';

const cluster = sharedKafka();

const GATEWAY = 'gw1';
const BASE_TS = 1_733_000_000_000;

/** The Kafka sink's message for reading n: key = device, value = the reading as JSON with id and seq. */
function message(n: number): { key: string; value: string } {
  const seq = BASE_TS * 1000 + n;
  const device = `dev-${n % 7}`;
  const value = JSON.stringify({
    id: `${GATEWAY}:${seq}`,
    gateway: GATEWAY,
    seq,
    device,
    metric: 'temperature',
    value: 20 + (n % 10) / 2,
    unit: 'C',
    ts: BASE_TS + n * 10,
    source: 'sim',
  });
  return { key: device, value };
}

/**
 * What the topic holds after gateway SIGKILL rounds: the readings in order, and after each crash the
 * unacknowledged tail sent again, byte for byte. Returns message numbers in send order.
 */
function sendOrder(readings: number, crashes: readonly { at: number; resent: number }[]): number[] {
  const order: number[] = [];
  let next = 0;
  for (const c of crashes) {
    while (next < c.at) order.push(next++);
    for (let n = c.at - c.resent; n < c.at; n++) order.push(n);
  }
  while (next < readings) order.push(next++);
  return order;
}

/** Produces with kcat, one `key<TAB>value` line per message (acks all, so all are written on exit 0). */
function produce(bootstrap: readonly string[], topic: string, order: readonly number[]): Promise<void> {
  const lines = order.map((n) => {
    const m = message(n);
    return `${m.key}\t${m.value}\n`;
  });
  return new Promise((resolve, reject) => {
    const kcat = spawn(
      'kcat',
      ['-P', '-b', bootstrap.join(','), '-t', topic, '-K', '\t', '-H', `sluice-gateway=${GATEWAY}`],
      { stdio: ['pipe', 'ignore', 'pipe'] },
    );
    let stderr = '';
    kcat.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => kcat.kill('SIGKILL'), 30_000);
    kcat.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`kcat: ${err.message} (apt-get install -y kcat)`));
    });
    kcat.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`kcat -P exited with ${code ?? signal}: ${stderr}`));
    });
    kcat.stdin.end(lines.join(''));
  });
}

describe('Spark Structured Streaming downstream of the Kafka sink', () => {
  it('counts each reading once after crash rounds left 1,500 duplicates in the topic', async () => {
    const topic = uniqueTopic('spark');
    // Several partitions, so duplicates and originals spread over Spark's partitions as in a real topic.
    await createTopic(cluster, topic, { partitions: 3 });
    // 5,000 readings; three crashes, each resending the last 500 before it.
    const order = sendOrder(5000, [
      { at: 1500, resent: 500 },
      { at: 3000, resent: 500 },
      { at: 4500, resent: 500 },
    ]);
    expect(order).toHaveLength(6500);
    await produce(cluster.bootstrap, topic, order);

    // Micro-batches of ~2,000 records, so resends meet their originals in an earlier batch's state too.
    const r = await expectSparkCountsEqual(cluster.bootstrap, topic, 5000, { maxOffsetsPerTrigger: 2000 });
    expect(r.read).toBe(6500);
    expect(r.unique).toBe(5000);
    expect(r.distinctIds).toBe(5000);
    expect(r.batches).toBeGreaterThan(1);
    // The check is not vacuous: without dedup the count would be the records read, and that fails it.
    expect(r.read).not.toBe(r.unique);
    expect(sparkCountProblems({ ...r, unique: r.read }, 5000)).not.toEqual([]);
    console.log(
      `spark dedup: ${JSON.stringify({ ...r, rssPeakMiB: r.rssPeakBytes && Math.round(r.rssPeakBytes / 2 ** 20) })}`,
    );
    // Spark's JVM start and job take 12-31 s on a quiet machine and over 60 s when both cores are busy.
  }, 180_000);
});
