// The faults a real Hadoop cluster does not give on demand, injected by the loopback fault proxy in front of
// its NameNode and DataNodes (test/peers/hdfs/fault-proxy.ts), mid-stream through the real SinkRunner:
// uploads cut mid-body (Hadoop closes a torn file), answers lost after the request took effect, slow answers
// and requests that time out yet land later, operations refused with 5xx. (The faults Hadoop does produce,
// NameNode restart, DataNode kill, safe mode, quotas, are in real.test.ts.) Each run must end with every
// reading in exactly one sound final file, read back through Hadoop's FileSystem, and the queue must never
// be acked ahead of the final files.
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import type { Queue } from '../../../gateway/queue/queue.js';
import type { SinkRunner } from '../../../gateway/runtime/sink-runner.js';
import { readings } from '../../helpers/readings.js';
import { until } from '../../helpers/wait.mjs';
import { startFaultProxy, type FaultProxy } from '../../peers/hdfs/fault-proxy.js';
import { startHdfs, type HdfsPeer } from '../../peers/hdfs/index.js';
import { pipeline } from './helpers.js';
import { expectRealExactlyOnce, namenodeUrls, ownedDir, realSink, watchRealAcks } from './real-helpers.js';

let hdfs: HdfsPeer;
let proxy: FaultProxy;
beforeAll(async () => {
  hdfs = await startHdfs({ variant: 'simple' });
  proxy = await startFaultProxy(await namenodeUrls(hdfs));
});
const roots: string[] = [];
afterEach(async () => {
  proxy.heal();
  // The cluster holds only what the running test wrote.
  for (const root of roots.splice(0)) await hdfs.must('rm', root);
});
afterAll(async () => {
  await proxy?.close();
  await hdfs?.close();
});

interface Ctx {
  readonly queue: Queue;
  readonly runner: SinkRunner;
  /** Every distinct error the runner reported while the scenario ran (its first 200 characters). */
  readonly errors: Map<string, boolean>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const failing = (c: Ctx, times = 3) =>
  until(() => c.runner.status().consecutiveFailures >= times, { timeoutMs: 60_000 });
const progressed = (c: Ctx, seq = 200) =>
  until(() => c.queue.cursorPosition('hdfs') >= seq, { timeoutMs: 60_000 });
const lastError = (c: Ctx) => c.runner.status().health.lastError;

let dirs = 0;
/** Streams `n` readings through a runner (via the proxy) while `fault` runs, then checks the outcome. */
async function scenario(n: number, over: Record<string, unknown>, fault: (c: Ctx) => Promise<void>) {
  const root = `/f${++dirs}`;
  await ownedDir(hdfs, root);
  roots.push(root);
  const sink = realSink(proxy.namenodes, {
    path: `${root}/out/{device}`,
    max_file_readings: 100,
    roll_interval_ms: 100,
    idle_timeout_ms: 0,
    upload_buffer_bytes: 4096,
    ...over,
  });
  const { queue, runner } = await pipeline(sink);
  const earlyAcks = watchRealAcks(hdfs, queue, 'hdfs', root);
  const ctx: Ctx = { queue, runner, errors: new Map() };
  const sampler = setInterval(() => {
    const e = runner.status().lastError;
    if (e) ctx.errors.set(e.message.slice(0, 200), e.retriable);
  }, 10);
  try {
    const filling = (async () => {
      for (let i = 0; i < n; i += 100) {
        await queue.append(readings(Math.min(100, n - i), i));
        await sleep(20);
      }
    })();
    await fault(ctx);
    await filling;
    proxy.heal();
    await until(() => queue.cursorPosition('hdfs') === queue.stats().lastSeq, {
      timeoutMs: 90_000,
      what: 'the drain',
      state: () => ({ acked: queue.cursorPosition('hdfs'), lastError: runner.status().lastError }),
    });
  } finally {
    clearInterval(sampler);
    await runner.stop();
    expect(await earlyAcks()).toEqual([]);
  }
  await expectRealExactlyOnce(hdfs, root, n);
  await queue.close();
  return ctx;
}

test(
  'uploads cut mid-body leave torn staged files that never become final',
  { timeout: 150_000 },
  async () => {
    const before = proxy.counters().datanode;
    await scenario(1500, {}, async (c) => {
      await progressed(c);
      proxy.cutUpload(1000, 6);
      await until(() => proxy.injected.cut >= 6, { timeoutMs: 60_000 });
      await until(() => lastError(c)?.code === 'SLUICE_UPSTREAM_UNREACHABLE', { timeoutMs: 10_000 });
    });
    expect(proxy.injected.cut).toBe(6);
    // CREATE then APPEND: several uploads per file, so the cuts hit appends too.
    expect((proxy.counters().datanode.APPEND ?? 0) - (before.APPEND ?? 0)).toBeGreaterThan(0);
  },
);

test(
  'answers lost after the operation took effect (every kind): no duplicate, no stray file',
  { timeout: 150_000 },
  async () => {
    const dropped = proxy.injected.dropped;
    await scenario(1500, {}, async (c) => {
      await progressed(c);
      // The sink hears nothing, retries, and must find its CREATE, APPEND, RENAME or DELETE already done.
      for (const ops of [['CREATE'], ['APPEND'], ['RENAME'], ['DELETE'], ['MKDIRS'], ['GETFILESTATUS']]) {
        proxy.dropResponse(2, { ops });
      }
      await until(() => proxy.injected.dropped - dropped >= 10, { timeoutMs: 60_000 });
    });
    expect(proxy.injected.dropped - dropped).toBeGreaterThanOrEqual(10);
  },
);

test(
  'slow answers, and requests that time out yet land later, never make a duplicate or stray file',
  { timeout: 150_000 },
  async () => {
    const renames = proxy.count('namenode', 'RENAME');
    await scenario(1200, { request_timeout_ms: 1_000 }, async (c) => {
      proxy.delay(50, { role: 'namenode' });
      proxy.delay(50, { role: 'datanode' });
      await progressed(c);
      // Over the deadline: the sink gives up on requests that Hadoop still carries out afterwards.
      proxy.delay(1_500, { role: 'namenode' }, 'request');
      proxy.delay(1_500, { role: 'datanode' });
      await failing(c, 3);
      expect(lastError(c)?.message).toMatch(/no answer within 1000 ms/);
      proxy.heal();
    });
    expect(proxy.count('namenode', 'RENAME') - renames).toBeGreaterThan(0);
  },
);

test(
  'operations refused with 500 and 503 (an overloaded node, a gateway in front): retried, nothing lost',
  { timeout: 150_000 },
  async () => {
    const run = await scenario(1200, {}, async (c) => {
      await progressed(c);
      proxy.refuse(4, 503, { ops: ['RENAME'] }, '<html><body>503 Service Unavailable</body></html>');
      proxy.refuse(4, 500, { role: 'datanode' });
      await failing(c, 2);
      await until(() => proxy.injected.refused >= 8, { timeoutMs: 60_000 });
    });
    // Passing trouble, each refusal: none may be reported as an operator's fault.
    expect([...run.errors].filter(([m]) => /HTTP 503|injected/.test(m))).not.toEqual([]);
    expect([...run.errors].filter(([, retriable]) => !retriable)).toEqual([]);
  },
);
