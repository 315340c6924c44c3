// /healthz and /readyz: "looks alive but stuck" is visible. A sink that is connected and healthy, has
// readings waiting and acknowledges nothing for stall_after_ms fails liveness; so does a nearly full disk;
// an upstream that is down is only a warning (the queue is there for it). Reasons come back as JSON.
import { afterEach, expect, test } from 'vitest';
import type { HealthReport } from '../../gateway/observe/health.js';
import { sinkStall } from '../../gateway/observe/health.js';
import { until } from '../helpers/wait.mjs';
import { simToFile, startGateway, type Running } from './helpers.js';

let run: Running | undefined;
afterEach(async () => {
  await run?.stop();
  run = undefined;
});

async function health(
  url: string,
  path: '/healthz' | '/readyz',
): Promise<{ code: number; body: HealthReport }> {
  const res = await fetch(`${url}${path}`);
  return { code: res.status, body: (await res.json()) as HealthReport };
}

test('a running, forwarding gateway is live and ready', async () => {
  run = await startGateway(simToFile({ count: 0, intervalMs: 50 }));
  const live = await until(() => health(run!.server.url, '/readyz'), {
    what: 'sources up',
    accept: (h) => h.code === 200,
    timeoutMs: 20_000,
    intervalMs: 50,
  });
  expect(live.body).toMatchObject({ status: 'ok', check: 'ready', reasons: [] });
  const h = await health(run.server.url, '/healthz');
  expect(h.code).toBe(200);
  expect(h.body.disk?.freeBytes).toBeGreaterThan(0);
});

test('a connected sink that holds readings without acknowledging them fails /healthz once stall_after_ms passes', async () => {
  // The file sink commits only when it rolls; with a one-hour roll it looks healthy but acks nothing.
  run = await startGateway(
    simToFile({
      count: 30,
      roll: 3_600_000,
      extra: 'observe:\n  health: { stall_after_ms: 1000 }\n',
    }).replace('observe:\n  history: { sample_interval_ms: 100, samples: 50 }\n', ''),
  );
  const { url } = run.server;
  const first = await health(url, '/healthz');
  expect(first.code).toBe(200); // not yet: the readings have only just arrived
  const stuck = await until(() => health(url, '/healthz'), {
    what: 'the stall to be reported',
    accept: (h) => h.code === 503,
    timeoutMs: 10_000,
    intervalMs: 50,
  });
  expect(stuck.body.status).toBe('fail');
  expect(stuck.body.reasons.join('\n')).toMatch(
    /sink local: 30 readings waiting and upstream connected, but nothing acknowledged for \d+ s \(observe\.health\.stall_after_ms 1000\)/,
  );
  const status = run.gw.status().sinks[0]!;
  expect(status).toMatchObject({ connected: true, health: { state: 'healthy' } });
});

test('a nearly full disk fails /healthz with the numbers', async () => {
  run = await startGateway(
    simToFile({ count: 6 }).replace(
      'observe:\n',
      'observe:\n  health: { disk_min_free_percent: 100, disk_min_free_bytes: 1 }\n',
    ),
  );
  const h = await health(run.server.url, '/healthz');
  expect(h.code).toBe(503);
  expect(h.body.reasons).toEqual([
    expect.stringMatching(
      /^disk nearly full: .*data has \d+ bytes \([\d.]+%\) free; minimum 1 bytes and 100%/,
    ),
  ]);
  expect((await health(run.server.url, '/readyz')).code).toBe(503);
});

test('stall rules: an idle sink that just got a reading is not stuck; a disconnected one is waiting, not stuck', () => {
  const now = 1_000_000;
  const sink = {
    sink: 's',
    type: 'file',
    connected: true,
    health: { state: 'healthy' as const },
    consecutiveFailures: 0,
    lastAckAt: now - 3_600_000, // last ack an hour ago ...
    position: 0,
    lastError: undefined,
  };
  const cursor = { name: 's', acked: 10, lag: 1, oldestUnackedAgeMs: 200, dropped: 0, createdAt: 0 };
  // ... but the one waiting reading arrived 200 ms ago.
  expect(sinkStall(sink, cursor, now - 7_200_000, 60_000, now).stalledMs).toBe(0);
  const old = { ...cursor, oldestUnackedAgeMs: 120_000 };
  expect(sinkStall(sink, old, now - 7_200_000, 60_000, now)).toMatchObject({ reachable: true, lag: 1 });
  expect(sinkStall(sink, old, now - 7_200_000, 60_000, now).stalledMs).toBe(120_000);
  // Acked 10 s ago while catching up a backlog: progressing, not stuck.
  expect(sinkStall({ ...sink, lastAckAt: now - 10_000 }, old, 0, 60_000, now).stalledMs).toBe(0);
  const down = { ...sink, connected: false, health: { state: 'unhealthy' as const } };
  expect(sinkStall(down, old, 0, 60_000, now).reachable).toBe(false);
});
