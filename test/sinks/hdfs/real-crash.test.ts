// SIGKILL of the compiled gateway while it drains to a real Hadoop 3.5 cluster, round after round: right
// after the k-th RENAME reached the NameNode (the manifest, the commit point, then the staged files), right
// after the k-th CREATE/APPEND body began to reach a DataNode (mid-upload), or at random. After each kill
// the queue's ack never passes the final files; at the end the final files hold every reading exactly once,
// none empty, torn or misnamed, read back through Hadoop's own FileSystem client.
// The child talks to the cluster through the fault proxy (test/peers/hdfs/fault-proxy.ts), NameNode and
// DataNodes both: it counts each operation as it arrives (a real cluster tells nobody when a request
// arrived), and holds each NameNode answer a few ms so that a kill right after a request arrived lands
// while Hadoop carries it out.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Queue } from '../../../gateway/queue/queue.js';
import { runGatewayChild, writeBacklog, type ChildControl } from '../../helpers/gateway-child.js';
import { tempDir } from '../../helpers/tmp.js';
import { startFaultProxy, type FaultProxy, type Role } from '../../peers/hdfs/fault-proxy.js';
import { startHdfs, type HdfsPeer } from '../../peers/hdfs/index.js';
import { assertBuilt } from '../built.js';
import { exists, finalTracker, namenodeUrls, ownedDir } from './real-helpers.js';

const child = fileURLToPath(new URL('../../fixtures/hdfs-gateway-child.mjs', import.meta.url));
const TOTAL = 3_000;
const STATE = '/data/_sluice/gw-crash/hdfs';

let hdfs: HdfsPeer;
let proxy: FaultProxy;
/** Final files are never rewritten: each is read (through FileSystem) and checked once, when it appears. */
let finals: ReturnType<typeof finalTracker>;

beforeAll(async () => {
  hdfs = await startHdfs({ variant: 'simple' });
  await ownedDir(hdfs, '/data');
  proxy = await startFaultProxy(await namenodeUrls(hdfs));
  proxy.delay(3, { role: 'namenode' });
  finals = finalTracker(hdfs, '/data');
});
afterAll(async () => {
  await proxy?.close();
  await hdfs?.close();
});

type Strategy = 'after-commit' | 'mid-upload' | 'random';

/** Runs the child; kills it per `strategy`, or (undefined) once it has drained. Resolves with the last ack. */
function runChild(dataDir: string, strategy: Strategy | undefined): Promise<number> {
  const arm = (ctl: ChildControl): void => {
    if (strategy === 'random') {
      const timer = setTimeout(() => ctl.kill(), 200 + Math.floor(Math.random() * 1500));
      ctl.onExit(() => clearTimeout(timer));
      return;
    }
    const [role, names]: [Role, string[]] =
      strategy === 'after-commit' ? ['namenode', ['RENAME']] : ['datanode', ['CREATE', 'APPEND']];
    const target = proxy.count(role, ...names) + 1 + Math.floor(Math.random() * 8);
    const watch = setInterval(() => {
      if (proxy.count(role, ...names) >= target) ctl.kill();
    }, 1);
    ctl.onExit(() => clearInterval(watch));
  };
  return runGatewayChild(child, [dataDir, proxy.namenodes[0]!], {
    ...(strategy === undefined ? {} : { onReady: arm }),
  }).then((life) => life.acked);
}

/** What a kill left in the state directory, seen through FileSystem. */
async function leftover(): Promise<'committed-not-placed' | 'uncommitted' | 'clean'> {
  if (!(await exists(hdfs, STATE))) return 'clean';
  const names = (await hdfs.ls(STATE)).map((f) => f.name);
  for (const n of names.filter((x) => x.startsWith('commit-'))) {
    const m = JSON.parse((await hdfs.read(`${STATE}/${n}`)).toString()) as { staging: string };
    if (await exists(hdfs, m.staging)) return 'committed-not-placed';
  }
  const staging = names.includes('staging') ? await hdfs.ls(`${STATE}/staging`) : [];
  return staging.length > 0 || names.some((x) => x.startsWith('_commit-')) ? 'uncommitted' : 'clean';
}

test(`SIGKILL mid-roll, over and over, draining ${TOTAL} readings to a real cluster: every reading once`, async () => {
  assertBuilt('hdfs');
  const started = Date.now();
  const dataDir = tempDir();
  const queueDir = await writeBacklog(dataDir, TOTAL);

  const seen = { 'committed-not-placed': 0, uncommitted: 0, clean: 0 };
  const strategies: Strategy[] = ['after-commit', 'mid-upload', 'random'];
  let acked = 0;
  let rounds = 0;
  for (; rounds < 24 && acked < TOTAL; rounds++) {
    acked = await runChild(dataDir, strategies[rounds % strategies.length]);
    await new Promise((r) => setTimeout(r, 50)); // requests the child sent before dying land now
    seen[await leftover()]++;
    const reader = Queue.open({ dir: queueDir, maxBytes: 1 << 30, onFull: 'reject_new', readOnly: true });
    const cursor = reader.cursorPosition('hdfs');
    await reader.close();
    const files = await finals.files();
    expect(files.flatMap((f) => f.problems.map((p) => `${f.path}: ${p}`))).toEqual([]);
    const seqs = files.flatMap((f) => f.records.map((r) => r.seq));
    expect(seqs.length).toBe(new Set(seqs).size);
    const have = new Set(seqs);
    let prefix = 0;
    while (have.has(prefix + 1)) prefix++;
    expect(cursor).toBeLessThanOrEqual(prefix);
  }
  if (acked < TOTAL) acked = await runChild(dataDir, undefined);
  console.info(
    `hdfs real crash: ${rounds} kill rounds in ${((Date.now() - started) / 1000).toFixed(1)} s, left ${JSON.stringify(seen)}, ` +
      `ops ${JSON.stringify(proxy.counters())}`,
  );
  expect(acked).toBe(TOTAL);
  expect(seen['committed-not-placed']).toBeGreaterThanOrEqual(2);
  expect(seen.uncommitted).toBeGreaterThanOrEqual(2);
  const files = await finals.files();
  expect(files.flatMap((f) => f.problems.map((p) => `${f.path}: ${p}`))).toEqual([]);
  const seqs = files.flatMap((f) => f.records.map((r) => r.seq)).sort((a, b) => a - b);
  expect(seqs).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
  expect(new Set(files.map((f) => f.path.split('/').slice(0, -1).join('/'))).size).toBe(7);
}, 400_000);
