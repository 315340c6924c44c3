// SIGKILL while the gateway drains to Kafka, over and over: a kill between Kafka's ack and the queue's ack
// resends readings on restart, so Kafka may hold duplicates, but only of (gateway, seq) ids it already had,
// with the same content; dedup by id downstream gives every reading exactly once. Runs the compiled gateway.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Queue } from '../../gateway/queue/queue.js';
import { readings } from '../helpers/readings.js';
import { tempDir } from '../helpers/tmp.js';
import { startMockCluster, type MockCluster } from '../peers/kafka-mock/index.js';
import { assertBuilt, consume, dedupProblems } from './kafka-helpers.js';

const child = fileURLToPath(new URL('../fixtures/kafka-gateway-child.mjs', import.meta.url));
const TOTAL = 20_000;

let cluster: MockCluster;
beforeAll(async () => {
  cluster = await startMockCluster({ brokers: 3 });
});
afterAll(async () => {
  await cluster?.close();
});

interface Round {
  /** Highest ack the child reported before it died. */
  acked: number;
  killed: boolean;
}

/** Runs the child until it is killed `killAfterMs` after ready, or (killAfterMs undefined) until drained. */
function runChild(dataDir: string, killAfterMs: number | undefined): Promise<Round> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, dataDir, cluster.bootstrap.join(','), 'crash'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let acked = 0;
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
        if (line === 'ready' && killAfterMs !== undefined) setTimeout(kill, killAfterMs);
        const m = /^acked (\d+) lag (\d+)$/.exec(line);
        if (!m) continue;
        acked = Number(m[1]);
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
  await cluster.createTopic('crash', 3, 3);
  const dataDir = tempDir();
  const queue = Queue.open({ dir: join(dataDir, 'queue'), maxBytes: 1 << 30, onFull: 'reject_new' });
  for (let i = 0; i < TOTAL; i += 1_000) await queue.append(readings(1_000, i));
  await queue.close();

  const rounds: Round[] = [];
  for (let i = 0; i < 30; i++) {
    // Short lives, so that several kills land mid-drain however fast the machine drains.
    const round = await runChild(dataDir, 40 + Math.floor(Math.random() * 200));
    rounds.push(round);
    if (round.acked === TOTAL) break;
  }
  if (rounds[rounds.length - 1]?.acked !== TOTAL) rounds.push(await runChild(dataDir, undefined));
  const midDrain = rounds.filter((r) => r.acked > 0 && r.acked < TOTAL).length;

  const got = await consume(cluster, 'crash');
  const ids = got.map((g) => g.rec.id);
  const duplicates = ids.length - new Set(ids).size;
  console.info(
    `kafka crash test: ${rounds.length} runs, ${midDrain} killed mid-drain, ${got.length} messages, ${duplicates} duplicates`,
  );
  expect(midDrain).toBeGreaterThan(2);
  // Every duplicate has the same id and content as its first copy, nothing is missing, per-device order holds.
  expect(
    dedupProblems(
      got,
      Array.from({ length: TOTAL }, (_, i) => i + 1),
    ),
  ).toEqual([]);
  expect(got.every((g) => g.rec.gateway === 'gw-crash')).toBe(true);
}, 120_000);
