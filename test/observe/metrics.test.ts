// /metrics scraped while a gateway runs (simulator -> queue -> file sink): the counters of the metrics spec
// agree with what the simulator sent and what the file sink wrote, and the process metrics are there.
import { afterAll, expect, test } from 'vitest';
import { until } from '../helpers/wait.mjs';
import { fileLines, maybe, metric, scrape, simToFile, startGateway, type Running } from './helpers.js';

const N = 240; // 2 devices x 3 metrics x 40 ticks
let run: Running | undefined;
afterAll(async () => run?.stop());

test('counters scraped during a run match what was sent and delivered', async () => {
  run = await startGateway(simToFile({ count: N, intervalMs: 10 }));
  const { url } = run.server;
  const src = { component_kind: 'source', component_id: 'sim', component_type: 'simulator' };
  const sink = { component_kind: 'sink', component_id: 'local', component_type: 'file' };

  // Mid-run: something was ingested but not necessarily everything; counters never go backwards.
  const early = await until(() => scrape(url), {
    what: 'first readings',
    accept: (s) => (maybe(s, 'sluice_component_sent_events_total', src) ?? 0) > 0,
    timeoutMs: 20_000,
    intervalMs: 50,
  });
  const earlyIn = metric(early, 'sluice_component_sent_events_total', src);
  expect(earlyIn).toBeLessThanOrEqual(N);

  const done = await until(() => scrape(url), {
    what: 'the file sink to acknowledge every reading',
    accept: (s) => maybe(s, 'sluice_component_sent_events_total', sink) === N,
    timeoutMs: 20_000,
    intervalMs: 50,
  });
  expect(metric(done, 'sluice_component_sent_events_total', src)).toBe(N);
  expect(metric(done, 'sluice_component_received_events_total', src)).toBe(N);
  expect(metric(done, 'sluice_component_received_events_total', sink)).toBeGreaterThanOrEqual(N);
  expect(metric(done, 'sluice_component_sent_events_total', sink)).toBe(fileLines(run.out));
  expect(fileLines(run.out)).toBe(N);
  expect(metric(done, 'sluice_component_sent_events_total', src)).toBeGreaterThanOrEqual(earlyIn);

  // Queue and per-sink gauges: everything acknowledged, so nothing waits.
  const drained = await until(() => scrape(url), {
    what: 'the queue to be trimmed',
    accept: (s) => metric(s, 'sluice_queue_depth_events') === 0,
    timeoutMs: 20_000,
    intervalMs: 50,
  });
  expect(metric(drained, 'sluice_queue_last_sequence')).toBe(run.gw.queue.origin + N - 1);
  expect(metric(drained, 'sluice_sink_lag_events', { sink: 'local' })).toBe(0);
  expect(metric(drained, 'sluice_sink_oldest_unacked_age_seconds', { sink: 'local' })).toBe(0);
  expect(metric(drained, 'sluice_queue_commits_total')).toBeGreaterThan(0);
  expect(metric(drained, 'sluice_queue_dropped_events_total')).toBe(0);
  expect(metric(drained, 'sluice_sink_dropped_events_total', { sink: 'local' })).toBe(0);
  expect(metric(drained, 'sluice_queue_max_bytes')).toBe(1024 ** 3);

  // Process metrics on the same registry, with the gateway label.
  expect(metric(drained, 'process_resident_memory_bytes')).toBeGreaterThan(1e6);
  expect(metric(drained, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  expect(drained.find((s) => s.name === 'nodejs_eventloop_lag_p99_seconds')?.labels.gateway).toBe('obs-gw');
  // No errors were counted in a clean run.
  expect(drained.filter((s) => s.name === 'sluice_component_errors_total')).toEqual([]);
});

test('/api/status returns Gateway.status() with totals; other paths and methods are refused', async () => {
  const url = run!.server.url;
  const res = await fetch(`${url}/api/status`);
  expect(res.headers.get('content-type')).toBe('application/json');
  const s = (await res.json()) as Record<string, unknown> & { components: unknown[] };
  const direct = JSON.parse(JSON.stringify(run!.gw.status())) as Record<string, unknown>;
  for (const key of Object.keys(direct)) expect(s).toHaveProperty(key);
  expect(s).toMatchObject({ gateway: 'obs-gw', sources: [{ name: 'sim' }], sinks: [{ sink: 'local' }] });
  expect(s.components).toContainEqual(expect.objectContaining({ kind: 'source', id: 'sim', sentEvents: N }));
  expect((await fetch(`${url}/nope`)).status).toBe(404);
  expect((await fetch(`${url}/api/status`, { method: 'POST' })).status).toBe(405);
  const history = (await (await fetch(`${url}/api/history`)).json()) as unknown[];
  expect(history.length).toBeGreaterThan(0);
});
