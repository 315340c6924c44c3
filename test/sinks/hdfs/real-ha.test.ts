// The HDFS sink against a real HA pair (two Hadoop 3.5 NameNodes, one active, MiniDFSNNTopology): the sink
// lists both, and failovers in the middle of a drain (the active goes to standby, the standby takes over,
// and back) leave every reading in exactly one final file, read back through Hadoop's failover client.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { readings } from '../../helpers/readings.js';
import { startHdfs, type HdfsPeer } from '../../peers/hdfs/index.js';
import { until } from '../../helpers/wait.mjs';
import { pipeline } from './helpers.js';
import { expectRealExactlyOnce, namenodeUrls, ownedDir, realFinalPrefix, realSink } from './real-helpers.js';

let hdfs: HdfsPeer;
beforeAll(async () => {
  hdfs = await startHdfs({ variant: 'ha' });
});
afterAll(async () => hdfs?.close());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('failover twice mid-drain: the sink follows the active NameNode, every reading exactly once', async () => {
  const namenodes = await namenodeUrls(hdfs);
  expect(namenodes).toHaveLength(2);
  expect((await hdfs.state()).namenodes.map((n) => n.state)).toEqual(['active', 'standby']);
  await ownedDir(hdfs, '/ha');
  const sink = realSink(namenodes, {
    path: '/ha/out/{device}',
    max_file_readings: 100,
    roll_interval_ms: 100,
    idle_timeout_ms: 0,
    upload_buffer_bytes: 4096,
  });
  const { queue, runner } = await pipeline(sink);
  const n = 3000;
  const seen = new Set<string>();
  const sampler = setInterval(() => {
    const e = runner.status().lastError;
    if (e) seen.add(`${/(\w+Exception)/.exec(e.message)?.[1] ?? e.code}:${String(e.retriable)}`);
  }, 10);
  try {
    const filling = (async () => {
      for (let i = 0; i < n; i += 100) {
        await queue.append(readings(100, i));
        await sleep(30);
      }
    })();
    const at = (seq: number) => until(() => queue.cursorPosition('hdfs') >= seq, { timeoutMs: 60_000 });
    await at(300);
    const t0 = Date.now();
    const first = (await hdfs.must('failover')) as unknown as { namenodes: { state: string }[] };
    expect(first.namenodes.map((x) => x.state)).toEqual(['standby', 'active']);
    const acked = queue.cursorPosition('hdfs');
    expect(acked).toBeLessThanOrEqual(await realFinalPrefix(hdfs, '/ha'));
    await at(acked + 300);
    console.info(`hdfs ha: drain went on ${Date.now() - t0} ms after failover to nn2`);
    const back = (await hdfs.must('failover')) as unknown as { namenodes: { state: string }[] };
    expect(back.namenodes.map((x) => x.state)).toEqual(['active', 'standby']);
    await filling;
    await until(() => queue.cursorPosition('hdfs') === n, { timeoutMs: 90_000 });
  } finally {
    clearInterval(sampler);
    await runner.stop();
  }
  console.info(`hdfs ha: errors seen ${JSON.stringify([...seen])}`);
  await expectRealExactlyOnce(hdfs, '/ha', n);
  await queue.close();
}, 180_000);

test('only the standby listed: a clear StandbyException, retried, nothing acked', async () => {
  const standby = (await hdfs.state()).namenodes.findIndex((x) => x.state === 'standby');
  const url = (await namenodeUrls(hdfs))[standby]!;
  await ownedDir(hdfs, '/ha-standby');
  const sink = realSink([url], { path: '/ha-standby/out', roll_interval_ms: 100, idle_timeout_ms: 0 });
  const { queue, runner } = await pipeline(sink);
  try {
    await queue.append(readings(50));
    await until(() => runner.status().consecutiveFailures >= 2, { timeoutMs: 30_000 });
    expect(runner.status().lastError).toMatchObject({ code: 'SLUICE_SINK_WRITE', retriable: true });
    expect(runner.status().lastError?.message).toMatch(/StandbyException/);
    expect(queue.cursorPosition('hdfs')).toBe(0);
  } finally {
    await runner.stop();
    await queue.close();
  }
}, 60_000);
