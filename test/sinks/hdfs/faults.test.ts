// Every fault the emulator can inject, mid-stream, through the real SinkRunner: namenode or datanode down,
// uploads cut mid-body (torn files), safe mode, space quota (Flume's empty-file bug) before and after the
// commit point, slow answers and timed-out requests that still land late. Each run must end with every
// reading in exactly one sound final file, and the queue must never be acked ahead of the final files.
import { afterAll, expect, test } from 'vitest';
import type { Queue } from '../../../gateway/queue/queue.js';
import type { SinkRunner } from '../../../gateway/runtime/sink-runner.js';
import { readings } from '../../helpers/readings.js';
import { until } from '../../helpers/wait.mjs';
import type { WebHdfs } from '../../peers/webhdfs/index.js';
import {
  USER,
  cluster,
  expectExactlyOnce,
  finalFiles,
  finalPrefix,
  makeSink,
  pipeline,
  watchAcks,
} from './helpers.js';

const clusters: WebHdfs[] = [];
afterAll(async () => {
  for (const h of clusters) expect(h.internalErrors()).toEqual([]);
  await Promise.all(clusters.map((h) => h.close()));
});

interface Ctx {
  readonly hdfs: WebHdfs;
  readonly queue: Queue;
  readonly runner: SinkRunner;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Streams `n` readings through a runner while `fault` runs, then checks the outcome. */
async function scenario(
  n: number,
  over: Record<string, unknown>,
  fault: (c: Ctx) => Promise<void>,
): Promise<WebHdfs> {
  const hdfs = await cluster();
  clusters.push(hdfs);
  const sink = makeSink(hdfs, {
    path: '/data/out/{device}',
    max_file_readings: 60,
    roll_interval_ms: 50,
    idle_timeout_ms: 0,
    upload_buffer_bytes: 4096,
    ...over,
  });
  const { queue, runner } = await pipeline(sink);
  const earlyAcks = watchAcks(hdfs, queue, 'hdfs');
  const filling = (async () => {
    for (let i = 0; i < n; i += 100) {
      await queue.append(readings(Math.min(100, n - i), i));
      await sleep(5);
    }
  })();
  await fault({ hdfs, queue, runner });
  await filling;
  await until(() => queue.cursorPosition('hdfs') === queue.stats().lastSeq, {
    timeoutMs: 30_000,
    intervalMs: 10,
  });
  await runner.stop();
  expect(earlyAcks()).toEqual([]);
  expectExactlyOnce(hdfs, n);
  await queue.close();
  return hdfs;
}

const failing = (c: Ctx, times = 3) =>
  until(() => c.runner.status().consecutiveFailures >= times, { timeoutMs: 30_000, intervalMs: 10 });
const progressed = (c: Ctx, seq = 200) =>
  until(() => c.queue.cursorPosition('hdfs') >= seq, { timeoutMs: 30_000, intervalMs: 10 });
const lastError = (c: Ctx) => c.runner.status().health.lastError;

test('namenode down mid-stream: retried, nothing lost, no duplicate', async () => {
  await scenario(1500, {}, async (c) => {
    await progressed(c);
    await c.hdfs.faults.namenodeDown();
    await failing(c);
    expect(lastError(c)?.code).toBe('SLUICE_UPSTREAM_UNREACHABLE');
    await c.hdfs.faults.namenodeUp();
  });
});

test('datanode down mid-stream: the namenode still answers, uploads fail, then resume', async () => {
  await scenario(1500, {}, async (c) => {
    await progressed(c);
    await c.hdfs.faults.datanodeDown();
    await failing(c);
    await c.hdfs.faults.datanodeUp();
  });
});

test('uploads cut mid-body leave torn staged files that never become final', async () => {
  const hdfs = await scenario(1500, {}, async (c) => {
    await progressed(c);
    c.hdfs.faults.dropUpload(1000, 6);
    await until(() => c.hdfs.counters().droppedUploads >= 6, { timeoutMs: 30_000, intervalMs: 10 });
  });
  expect(hdfs.counters().droppedUploads).toBe(6);
  // CREATE then APPEND: several uploads per file, so the cuts hit appends too.
  expect(hdfs.counters().datanode.APPEND ?? 0).toBeGreaterThan(0);
});

test('safe mode (403 SafeModeException, and RetriableException): held back, then delivered', async () => {
  await scenario(1500, {}, async (c) => {
    await progressed(c);
    c.hdfs.faults.enterSafeMode();
    await failing(c);
    expect(lastError(c)?.message).toMatch(/SafeModeException/);
    const acked = c.queue.cursorPosition('hdfs');
    await sleep(100);
    expect(c.queue.cursorPosition('hdfs')).toBe(acked);
    c.hdfs.faults.leaveSafeMode();
    await progressed(c, acked + 200);
    c.hdfs.faults.enterSafeMode({ requests: 4, retriable: true });
  });
});

test('space quota exceeded: no empty final file (the Flume empty-file bug), held until raised', async () => {
  await scenario(1200, {}, async (c) => {
    await progressed(c);
    c.hdfs.faults.exhaustSpaceQuota('/data');
    await failing(c);
    expect(lastError(c)).toMatchObject({ code: 'SLUICE_UPSTREAM_QUOTA' });
    expect(lastError(c)?.message).toMatch(/DSQuotaExceededException/);
    const files = finalFiles(c.hdfs);
    expect(files.filter((f) => f.bytes === 0)).toEqual([]);
    expect(c.queue.cursorPosition('hdfs')).toBeLessThanOrEqual(finalPrefix(c.hdfs));
    c.hdfs.fs.setQuota('/data', {});
  });
});

test('quota on the data directory only: the commit point is passed, the renames wait, nothing is lost', async () => {
  let stuck = 0;
  await scenario(1200, { state_dir: '/state' }, async (c) => {
    c.hdfs.fs.mkdirs('/state', { owner: USER });
    await progressed(c);
    c.hdfs.faults.exhaustSpaceQuota('/data');
    await failing(c, 4);
    // Committed manifests are waiting in the state directory, their files not final, the queue not acked.
    const root = '/state/gw1/hdfs';
    stuck = c.hdfs.fs
      .list(root)
      .filter((n) => n.startsWith('commit-'))
      .map((n) => JSON.parse(c.hdfs.fs.read(`${root}/${n}`)!.toString()) as { staging: string })
      .filter((m) => c.hdfs.fs.stat(m.staging) !== undefined).length;
    expect(c.queue.cursorPosition('hdfs')).toBeLessThanOrEqual(finalPrefix(c.hdfs));
    c.hdfs.fs.setQuota('/data', {});
  });
  expect(stuck).toBeGreaterThan(0);
});

test('slow answers, and requests that time out yet land later, never make a duplicate or stray file', async () => {
  const hdfs = await scenario(1200, { request_timeout_ms: 120 }, async (c) => {
    c.hdfs.faults.delay({ namenode: 10, datanode: 10 });
    await progressed(c);
    // Over the deadline: the sink gives up on requests the emulator still carries out afterwards.
    c.hdfs.faults.delay({ namenode: 100, datanode: 150 });
    await failing(c, 3);
    expect(lastError(c)?.message).toMatch(/no answer within 120 ms/);
    c.hdfs.faults.delay({ namenode: 0, datanode: 0 });
  });
  expect(hdfs.counters().namenode.RENAME ?? 0).toBeGreaterThan(0);
});
