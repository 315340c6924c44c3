// SIGKILL while the gateway drains to HDFS, many times, many of them in the middle of a roll: after the
// manifest rename (the commit point) with files still staged, during uploads, or at random. The emulator
// lives in this process, so it survives every kill and even carries out requests the dead child had sent.
// After each kill the queue's ack never passes the final files; at the end the final files hold every
// reading exactly once, none empty, torn or misnamed. Runs the compiled gateway (npm run build).
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Queue } from '../../../gateway/queue/queue.js';
import { runGatewayChild, writeBacklog, type ChildControl } from '../../helpers/gateway-child.js';
import { tempDir } from '../../helpers/tmp.js';
import type { WebHdfs } from '../../peers/webhdfs/index.js';
import { assertBuilt } from '../built.js';
import { cluster, expectExactlyOnce, finalFiles, finalPrefix } from './helpers.js';

const child = fileURLToPath(new URL('../../fixtures/hdfs-gateway-child.mjs', import.meta.url));
const TOTAL = 8_000;
const STATE = '/data/_sluice/gw-crash/hdfs';

let hdfs: WebHdfs;
beforeAll(async () => {
  hdfs = await cluster();
  // A few ms per namenode answer: a kill right after a request arrived lands while it is being served.
  hdfs.faults.delay({ namenode: 3 });
});
afterAll(async () => {
  await hdfs?.close();
});

type Strategy = 'after-commit' | 'mid-upload' | 'random';

const opCount = (table: Record<string, number>, ...ops: string[]): number =>
  ops.reduce((n, op) => n + (table[op] ?? 0), 0);

/** Runs the child; kills it per `strategy`, or (undefined) once it has drained. Resolves with the last ack. */
function runChild(dataDir: string, strategy: Strategy | undefined): Promise<number> {
  const arm = (ctl: ChildControl): void => {
    if (strategy === 'random') {
      const timer = setTimeout(() => ctl.kill(), 20 + Math.floor(Math.random() * 300));
      ctl.onExit(() => clearTimeout(timer));
      return;
    }
    // Kill as soon as the k-th RENAME (manifest first, then the staged files) or upload has arrived.
    const ops = strategy === 'after-commit' ? ['RENAME'] : ['CREATE', 'APPEND'];
    const table = () => (strategy === 'after-commit' ? hdfs.counters().namenode : hdfs.counters().datanode);
    const target = opCount(table(), ...ops) + 1 + Math.floor(Math.random() * 8);
    const watch = setInterval(() => {
      if (opCount(table(), ...ops) >= target) ctl.kill();
    }, 1);
    ctl.onExit(() => clearInterval(watch));
  };
  return runGatewayChild(child, [dataDir, hdfs.namenodeUrl], {
    ...(strategy === undefined ? {} : { onReady: arm }),
  }).then((life) => life.acked);
}

/** What a kill left in the state directory. */
function leftover(): 'committed-not-placed' | 'uncommitted' | 'clean' {
  const names = hdfs.fs.stat(STATE) === undefined ? [] : hdfs.fs.list(STATE);
  for (const n of names.filter((x) => x.startsWith('commit-'))) {
    const m = JSON.parse(hdfs.fs.read(`${STATE}/${n}`)!.toString()) as { staging: string };
    if (hdfs.fs.stat(m.staging) !== undefined) return 'committed-not-placed';
  }
  const staging = names.includes('staging') ? hdfs.fs.list(`${STATE}/staging`) : [];
  return staging.length > 0 || names.some((x) => x.startsWith('_commit-')) ? 'uncommitted' : 'clean';
}

test(`SIGKILL mid-roll, over and over, while draining ${TOTAL} readings: every reading in exactly one final file`, async () => {
  assertBuilt('hdfs');
  const dataDir = tempDir();
  const queueDir = await writeBacklog(dataDir, TOTAL);

  const seen = { 'committed-not-placed': 0, uncommitted: 0, clean: 0 };
  const strategies: Strategy[] = ['after-commit', 'mid-upload', 'random'];
  let acked = 0;
  for (let round = 0; round < 30 && acked < TOTAL; round++) {
    acked = await runChild(dataDir, strategies[round % strategies.length]);
    await new Promise((r) => setTimeout(r, 15)); // requests the child sent before dying land now
    seen[leftover()]++;
    // The ack never passes what is final, and what is final is sound and never duplicated.
    const reader = Queue.open({ dir: queueDir, maxBytes: 1 << 30, onFull: 'reject_new', readOnly: true });
    const cursor = reader.cursorPosition('hdfs');
    await reader.close();
    expect(cursor).toBeLessThanOrEqual(finalPrefix(hdfs));
    const files = finalFiles(hdfs);
    expect(files.flatMap((f) => f.problems)).toEqual([]);
    const seqs = files.flatMap((f) => f.records.map((r) => r.seq));
    expect(seqs.length).toBe(new Set(seqs).size);
  }
  if (acked < TOTAL) acked = await runChild(dataDir, undefined);
  console.info(`hdfs crash test: kills left ${JSON.stringify(seen)}`);
  expect(acked).toBe(TOTAL);
  expect(seen['committed-not-placed']).toBeGreaterThanOrEqual(3);
  expect(seen.uncommitted).toBeGreaterThanOrEqual(3);
  const files = expectExactlyOnce(hdfs, TOTAL);
  expect(new Set(files.map((f) => f.path.split('/').slice(0, -1).join('/'))).size).toBe(7);
  expect(hdfs.internalErrors()).toEqual([]);
}, 240_000);
